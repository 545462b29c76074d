"""Token exchange (RFC 8693): a service trades a user's token for one for another API, with
fewer scopes and an `act` claim naming who acts; checked with PyJWT, never keyplane's JOSE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt as pyjwt
import pytest
from grant_harness import AUDIENCE, OTHER_AUDIENCE, Harness, assert_oauth_error, kp, real_time

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
THIRD_AUDIENCE = "https://billing.example.com"


async def user_token(kp: Harness, *, token_format: str = "jwt") -> str:
    app = await kp.client(name="web app", grant_types=["client_credentials"],
                          token_format=token_format)
    registered = await kp.services.clients.get_client(app["client_id"])
    issued = await kp.services.tokens.issue(registered, subject="usr_alice",
                                            scope=("documents.read", "documents.write"),
                                            audience=(AUDIENCE,))
    return issued.access_token


async def service(kp: Harness, **fields) -> dict:
    return await kp.client(**{"name": "documents api", "audiences": [OTHER_AUDIENCE],
                              "grant_types": [EXCHANGE, "client_credentials"], **fields})


async def exchange(kp: Harness, client, subject: str, **data: str):
    return await kp.token(client, grant_type=EXCHANGE, subject_token=subject,
                          subject_token_type=ACCESS, **data)


async def claims_of(kp: Harness, token: str) -> dict:
    jwks = (await kp.http.get("/.well-known/jwks.json")).json()
    key = pyjwt.PyJWK(jwks["keys"][0])
    return pyjwt.decode(token, key.key, algorithms=[key.algorithm_name], audience=OTHER_AUDIENCE)


@pytest.mark.parametrize("subject_format", ["jwt", "opaque"])
async def test_a_service_exchanges_a_user_token_for_fewer_scopes_and_another_audience(kp, subject_format):
    subject = await user_token(kp, token_format=subject_format)
    documents = await service(kp)
    response = await exchange(kp, documents, subject, scope="documents.read", resource=OTHER_AUDIENCE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == ACCESS
    assert body["token_type"] == "Bearer" and body["scope"] == "documents.read"
    claims = await claims_of(kp, body["access_token"])
    assert claims["sub"] == "usr_alice" and claims["aud"] == OTHER_AUDIENCE
    assert claims["client_id"] == documents["client_id"]
    assert claims["act"] == {"sub": documents["client_id"], "client_id": documents["client_id"]}
    introspected = await kp.introspect(body["access_token"])
    assert introspected["active"] and introspected["act"]["sub"] == documents["client_id"]
    await kp.services.audit_writer.flush()  # token events are written in batches
    events = (await kp.http.get("/v1/audit", params={"action": "token.exchange"})).json()["items"]
    assert [e["target"] for e in events] == [claims["jti"]]


async def test_an_actor_token_names_the_actor_and_the_chain_is_kept(kp):
    subject = await user_token(kp)
    documents = await service(kp, audiences=[OTHER_AUDIENCE, THIRD_AUDIENCE])
    actor = (await kp.token(documents, grant_type="client_credentials")).json()["access_token"]
    first = await exchange(kp, documents, subject, actor_token=actor, actor_token_type=ACCESS,
                           audience=OTHER_AUDIENCE)
    assert first.status_code == 200, first.text
    reports = await service(kp, name="reports", audiences=[THIRD_AUDIENCE])
    second = await exchange(kp, reports, first.json()["access_token"], audience=THIRD_AUDIENCE)
    assert second.status_code == 200, second.text
    jwks = (await kp.http.get("/.well-known/jwks.json")).json()
    key = pyjwt.PyJWK(jwks["keys"][0])
    claims = pyjwt.decode(second.json()["access_token"], key.key, algorithms=[key.algorithm_name],
                          audience=THIRD_AUDIENCE)
    assert claims["sub"] == "usr_alice"
    assert claims["act"] == {"sub": reports["client_id"], "client_id": reports["client_id"],
                             "act": {"sub": documents["client_id"],
                                     "client_id": documents["client_id"]}}


async def test_more_scopes_or_a_foreign_audience_are_refused(kp):
    subject = await user_token(kp)
    documents = await service(kp)
    assert_oauth_error(await exchange(kp, documents, subject, scope="documents.read admin"),
                       400, "invalid_scope")
    assert_oauth_error(await exchange(kp, documents, subject, resource=THIRD_AUDIENCE),
                       400, "invalid_target")
    assert_oauth_error(await exchange(kp, documents, subject, audience=AUDIENCE),
                       400, "invalid_target")


async def test_revoked_expired_and_foreign_subjects_are_invalid_grant(kp, clock):
    documents = await service(kp)
    subject = await user_token(kp)
    assert_oauth_error(await exchange(kp, documents, "not-a-token"), 400, "invalid_grant")
    start = datetime.now(UTC).replace(microsecond=0)
    clock.set(start + timedelta(seconds=500))
    # The exchanged token lives no longer than its subject token (ten minutes from `start`).
    response = await exchange(kp, documents, subject)
    assert response.status_code == 200, response.text
    body = response.json()
    assert 0 < body["expires_in"] <= 100
    clock.set(start + timedelta(hours=2))
    assert_oauth_error(await exchange(kp, documents, subject), 400, "invalid_grant")  # expired
    clock.set(start)
    web = await kp.services.clients.get_client((await kp.services.tokens.introspect(subject)).client_id)
    await kp.services.tokens.revoke(subject, web)
    assert_oauth_error(await exchange(kp, documents, subject), 400, "invalid_grant")


async def test_may_act_names_who_may_act(kp):
    documents = await service(kp)
    other = await service(kp, name="other")
    app = await kp.client(name="web app", grant_types=["client_credentials"])
    registered = await kp.services.clients.get_client(app["client_id"])
    subject = (await kp.services.tokens.issue(
        registered, subject="usr_alice", scope=("documents.read",), audience=(AUDIENCE,),
        extra={"may_act": {"sub": documents["client_id"]}})).access_token
    assert (await exchange(kp, documents, subject)).status_code == 200
    assert_oauth_error(await exchange(kp, other, subject), 400, "invalid_grant")


async def test_bad_requests_get_the_standard_errors(kp):
    subject = await user_token(kp)
    documents = await service(kp)
    plain = await kp.client(name="no exchange", grant_types=["client_credentials"])
    assert_oauth_error(await exchange(kp, plain, subject), 400, "unauthorized_client")
    assert_oauth_error(await kp.token(documents, grant_type=EXCHANGE), 400, "invalid_request")
    assert_oauth_error(await kp.token(documents, grant_type=EXCHANGE, subject_token=subject),
                       400, "invalid_request")
    assert_oauth_error(await kp.token(documents, grant_type=EXCHANGE, subject_token=subject,
                                      subject_token_type="urn:x:saml"), 400, "invalid_request")
    assert_oauth_error(await exchange(kp, documents, subject,
                                      requested_token_type="urn:ietf:params:oauth:token-type:id_token"),
                       400, "invalid_request")
    assert_oauth_error(await exchange(kp, documents, subject, actor_token_type=ACCESS),
                       400, "invalid_request")
    assert_oauth_error(await exchange(kp, documents, subject, actor_token="x" * 9000,
                                      actor_token_type=ACCESS), 400, "invalid_grant")
    discovery = (await kp.http.get("/.well-known/oauth-authorization-server")).json()
    assert EXCHANGE in discovery["grant_types_supported"]


async def test_authlib_exchanges_a_token(kp):
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    subject = await user_token(kp)
    documents = await service(kp)
    async with AsyncOAuth2Client(documents["client_id"], documents["client_secret"],
                                 transport=kp.http._transport, base_url="http://testserver") as oauth:
        answer = await oauth.fetch_token("http://testserver/oauth/token", grant_type=EXCHANGE,
                                         subject_token=subject, subject_token_type=ACCESS,
                                         resource=OTHER_AUDIENCE, scope="documents.read")
    assert answer["issued_token_type"] == ACCESS and answer["scope"] == "documents.read"
    assert (await claims_of(kp, answer["access_token"]))["act"]["sub"] == documents["client_id"]
