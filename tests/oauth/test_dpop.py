"""DPoP at the token endpoint (RFC 9449 §5): proofs checked, tokens bound to their key
(`cnf.jkt`, token type DPoP), replays and proofs for another URL refused, nonces, and the
refresh tokens of public clients bound to the key. Proofs are made with joserfc."""

from __future__ import annotations

import time

import jwt as pyjwt
import pytest
from dpop_proofs import DpopKey
from grant_harness import AUDIENCE, FORM, Harness, assert_oauth_error, basic, harness, kp, real_time

TOKEN_URL = "http://testserver/oauth/token"


async def credentials_client(kp: Harness, **fields):
    return await kp.client(name="worker", grant_types=["client_credentials"], **fields)


async def token(kp: Harness, client, proof: str | None, **data: str):
    headers = {"DPoP": proof} if proof is not None else {}
    return await kp.post("/oauth/token", {"grant_type": "client_credentials", **data}, client,
                         headers=headers)


async def jwt_claims(kp: Harness, token_value: str) -> dict:
    jwks = (await kp.http.get("/.well-known/jwks.json")).json()
    key = pyjwt.PyJWK(jwks["keys"][0])
    return pyjwt.decode(token_value, key.key, algorithms=[key.algorithm_name], audience=AUDIENCE)


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_a_token_request_with_a_proof_gets_a_token_bound_to_its_key(kp, token_format):
    key = DpopKey()
    client = await credentials_client(kp, token_format=token_format)
    response = await token(kp, client, key.proof("POST", TOKEN_URL))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert response.headers["DPoP-Nonce"]
    if token_format == "jwt":
        assert (await jwt_claims(kp, body["access_token"]))["cnf"] == {"jkt": key.jkt}
    introspected = await kp.introspect(body["access_token"])
    assert introspected["active"] and introspected["cnf"] == {"jkt": key.jkt}
    assert introspected["token_type"] == "DPoP"
    # The announced URL works as well as the one the request went to.
    announced = kp.services.settings.resolved_issuer + "/oauth/token"
    assert (await token(kp, client, key.proof("POST", announced))).status_code == 200
    # Without a proof: a Bearer token, as before.
    plain = await token(kp, client, None)
    assert plain.json()["token_type"] == "Bearer"


async def test_replayed_and_misdirected_proofs_are_refused(kp):
    key = DpopKey()
    client = await credentials_client(kp)
    proof = key.proof("POST", TOKEN_URL)
    assert (await token(kp, client, proof)).status_code == 200
    assert_oauth_error(await token(kp, client, proof), 400, "invalid_dpop_proof")  # replay
    for bad in (key.proof("POST", "http://testserver/oauth/introspect"),  # another URL
                key.proof("GET", TOKEN_URL),  # another method
                key.proof("POST", TOKEN_URL, iat=time.time() - 3600),  # too old
                key.proof("POST", TOKEN_URL, iat=time.time() + 3600),  # from the future
                key.proof("POST", TOKEN_URL, header={"typ": "JWT"}),
                key.proof("POST", TOKEN_URL, header={"jwk": key.key.as_dict(private=True)}),
                "not.a.proof", "x" * 5000):
        assert_oauth_error(await token(kp, client, bad), 400, "invalid_dpop_proof")
    two = await kp.http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers=[
        *basic(client["client_id"], client["client_secret"]).items(), *FORM.items(),
        ("DPoP", key.proof("POST", TOKEN_URL)), ("DPoP", key.proof("POST", TOKEN_URL))])
    assert_oauth_error(two, 400, "invalid_dpop_proof")


async def test_a_proof_signed_by_another_key_than_its_jwk_is_refused(kp):
    key, other = DpopKey(), DpopKey()
    client = await credentials_client(kp)
    forged = key.proof("POST", TOKEN_URL, header={"jwk": other.public})
    assert_oauth_error(await token(kp, client, forged), 400, "invalid_dpop_proof")


async def test_a_client_registered_for_dpop_must_send_a_proof(kp):
    client = await credentials_client(kp, dpop_bound_access_tokens=True)
    assert client["dpop_bound_access_tokens"] is True
    assert_oauth_error(await token(kp, client, None), 400, "invalid_dpop_proof")
    assert (await token(kp, client, DpopKey().proof("POST", TOKEN_URL))).status_code == 200


async def test_a_stale_nonce_is_answered_with_a_fresh_one(kp):
    key = DpopKey()
    client = await credentials_client(kp)
    refused = await token(kp, client, key.proof("POST", TOKEN_URL, nonce="stale"))
    assert_oauth_error(refused, 400, "use_dpop_nonce")
    nonce = refused.headers["DPoP-Nonce"]
    assert (await token(kp, client, key.proof("POST", TOKEN_URL, nonce=nonce))).status_code == 200


async def test_a_required_nonce_is_asked_for(settings, clock, root_key):
    settings = settings.model_copy(update={"dpop_nonce_required": True})
    async for kp in harness(settings, clock, root_key):
        key = DpopKey()
        client = await credentials_client(kp)
        refused = await token(kp, client, key.proof("POST", TOKEN_URL))
        assert_oauth_error(refused, 400, "use_dpop_nonce")
        retried = await token(kp, client, key.proof("POST", TOKEN_URL,
                                                    nonce=refused.headers["DPoP-Nonce"]))
        assert retried.status_code == 200, retried.text


async def test_a_public_clients_refresh_token_is_bound_to_its_key(kp):
    key, other = DpopKey(), DpopKey()
    client = await kp.client(name="phone app", type="public", grant_types=["refresh_token"])
    registered = await kp.services.clients.get_client(client["client_id"])
    issued, _family = await kp.services.refresh_tokens.issue_tokens(
        registered, subject="usr_alice", scope=("documents.read",), audience=(AUDIENCE,),
        dpop_jkt=key.jkt)
    assert issued.token_type == "DPoP"
    refresh_token = issued.refresh_token
    assert refresh_token is not None
    assert (await kp.introspect(refresh_token))["cnf"] == {"jkt": key.jkt}
    assert_oauth_error(await kp.refresh(client, refresh_token), 400, "invalid_dpop_proof")
    assert_oauth_error(await kp.post("/oauth/token", {"grant_type": "refresh_token",
                                                      "refresh_token": refresh_token}, client,
                                     headers={"DPoP": other.proof("POST", TOKEN_URL)}),
                       400, "invalid_dpop_proof")
    refreshed = await kp.post("/oauth/token", {"grant_type": "refresh_token",
                                               "refresh_token": refresh_token}, client,
                              headers={"DPoP": key.proof("POST", TOKEN_URL)})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["token_type"] == "DPoP"
    assert (await jwt_claims(kp, refreshed.json()["access_token"]))["cnf"] == {"jkt": key.jkt}


async def test_discovery_lists_the_proof_algorithms(kp):
    discovery = (await kp.http.get("/.well-known/oauth-authorization-server")).json()
    assert "ES256" in discovery["dpop_signing_alg_values_supported"]
    assert not [a for a in discovery["dpop_signing_alg_values_supported"]
                if a.startswith("HS") or a == "none"]


async def test_with_redis_a_replay_is_refused_by_every_replica(settings, clock, root_key, redis_url):
    """Two services on one store and one Redis (two replicas): a proof used at one is
    refused at the other."""
    settings = settings.model_copy(update={"redis_url": redis_url})
    key = DpopKey()
    async for first in harness(settings, clock, root_key):
        async for second in harness(settings, clock, root_key):
            client = await credentials_client(first)
            proof = key.proof("POST", TOKEN_URL)
            assert (await token(first, client, proof)).status_code == 200
            assert_oauth_error(await token(second, client, proof), 400, "invalid_dpop_proof")
            assert (await token(second, client, key.proof("POST", TOKEN_URL))).status_code == 200
    import redis

    with redis.Redis.from_url(redis_url) as direct:  # the proofs are remembered in Redis
        assert direct.keys("kp:dpop:*")
