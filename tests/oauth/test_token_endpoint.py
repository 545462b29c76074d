"""The token endpoint (client_credentials), introspection, revocation and discovery,
checked against the RFCs with an independent JOSE library (PyJWT), never keyplane's own."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from running_app import running_app
from tamper import tampered

AUDIENCE = "https://api.example.com"
OTHER_AUDIENCE = "https://reports.example.com"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(autouse=True)
def real_time(clock):
    # Tokens are checked by PyJWT against the real clock: keyplane's starts there too.
    clock.set(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def make_root_key(http):
    async def make(*permissions):
        response = await http.post("/v1/root-keys", json={"name": "limited", "permissions": list(permissions)})
        assert response.status_code == 201, response.text
        return response.json()
    return make


@pytest.fixture
async def discovery(http):
    response = await http.get("/.well-known/oauth-authorization-server", headers={"Authorization": ""})
    assert response.status_code == 200, response.text
    return response.json()


def endpoint(discovery, name):
    return discovery[name].removeprefix("http://127.0.0.1:8080").removeprefix(discovery["issuer"])


async def make_client(http, **fields):
    body = {"name": "reports job", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["documents.read", "documents.write"], "audiences": [AUDIENCE, OTHER_AUDIENCE],
            "token_format": "jwt", **fields}
    response = await http.post("/v1/clients", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def basic(client_id, secret):
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def token_request(http, discovery, data, headers=None):
    return await http.post(endpoint(discovery, "token_endpoint"), data=data,
                           headers={"Authorization": "", **FORM, **(headers or {})})


async def get_token(http, discovery, client, **params):
    response = await token_request(http, discovery, {"grant_type": "client_credentials", **params},
                                   basic(client["client_id"], client["client_secret"]))
    assert response.status_code == 200, response.text
    return response


async def jwks(http, discovery):
    response = await http.get(endpoint(discovery, "jwks_uri"), headers={"Authorization": ""})
    assert response.status_code == 200
    return response.json()


async def verify_independently(http, discovery, token, audience=AUDIENCE):
    header = pyjwt.get_unverified_header(token)
    [jwk] = [k for k in (await jwks(http, discovery))["keys"] if k["kid"] == header["kid"]]
    key = pyjwt.PyJWK(jwk)
    return pyjwt.decode(token, key=key.key, algorithms=[jwk["alg"]], audience=audience,
                        issuer=discovery["issuer"], options={"require": ["exp", "iat", "jti", "sub", "iss", "aud"]})


def assert_oauth_error(response, status, error):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert isinstance(body.get("error_description", ""), str)
    assert response.headers["cache-control"] == "no-store"


async def test_discovery_names_every_endpoint_and_capability(discovery):
    for name in ("issuer", "token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"):
        assert discovery[name]
    assert discovery["grant_types_supported"] == [
        "authorization_code", "client_credentials", "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange"]
    assert discovery["device_authorization_endpoint"].endswith("/oauth/device_authorization")
    assert "implicit" not in discovery["grant_types_supported"] and "password" not in discovery["grant_types_supported"]
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt"} <= set(
        discovery["token_endpoint_auth_methods_supported"])
    assert "none" not in discovery["token_endpoint_auth_signing_alg_values_supported"]


async def test_client_credentials_with_basic_gives_an_rfc9068_jwt_that_verifies_independently(http, discovery):
    client = await make_client(http)
    response = await get_token(http, discovery, client)
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert body["scope"] == "documents.read documents.write"
    token = body["access_token"]
    assert pyjwt.get_unverified_header(token)["typ"] == "at+jwt"
    claims = await verify_independently(http, discovery, token)
    assert claims["sub"] == claims["client_id"] == client["client_id"]
    assert claims["aud"] == AUDIENCE and claims["scope"] == "documents.read documents.write"
    assert claims["exp"] - claims["iat"] == body["expires_in"]


async def test_concurrent_tokens_signed_off_the_event_loop_each_verify_independently(http, discovery):
    client = await make_client(http)
    answers = await asyncio.gather(*(get_token(http, discovery, client) for _ in range(20)))
    assert "keyplane-signing" in {t.name for t in threading.enumerate()}  # 2+ CPUs: off the loop
    claims = [await verify_independently(http, discovery, a.json()["access_token"]) for a in answers]
    assert len({c["jti"] for c in claims}) == 20


async def test_requested_scopes_must_be_allowed(http, discovery):
    client = await make_client(http)
    narrowed = (await get_token(http, discovery, client, scope="documents.read")).json()
    assert narrowed["scope"] == "documents.read"
    refused = await token_request(http, discovery, {"grant_type": "client_credentials", "scope": "admin"},
                                  basic(client["client_id"], client["client_secret"]))
    assert_oauth_error(refused, 400, "invalid_scope")


async def test_a_resource_sets_the_audience_and_must_be_allowed(http, discovery):
    client = await make_client(http)
    token = (await get_token(http, discovery, client, resource=OTHER_AUDIENCE)).json()["access_token"]
    assert (await verify_independently(http, discovery, token, OTHER_AUDIENCE))["aud"] == OTHER_AUDIENCE
    refused = await token_request(http, discovery, {"grant_type": "client_credentials",
                                                     "resource": "https://elsewhere.example"},
                                  basic(client["client_id"], client["client_secret"]))
    assert_oauth_error(refused, 400, "invalid_target")


async def test_a_wrong_secret_is_invalid_client_with_a_basic_challenge(http, discovery):
    client = await make_client(http)
    response = await token_request(http, discovery, {"grant_type": "client_credentials"},
                                   basic(client["client_id"], tampered(client["client_secret"])))
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].lower().startswith("basic")
    unknown = await token_request(http, discovery, {"grant_type": "client_credentials"},
                                  basic("cli_unknown", client["client_secret"]))
    assert_oauth_error(unknown, 401, "invalid_client")
    assert unknown.json()["error_description"] == response.json()["error_description"]


async def test_client_secret_post_works_only_for_clients_registered_for_it(http, discovery):
    client = await make_client(http, token_endpoint_auth_method="client_secret_post")
    ok = await token_request(http, discovery, {"grant_type": "client_credentials",
                                                "client_id": client["client_id"],
                                                "client_secret": client["client_secret"]})
    assert ok.status_code == 200, ok.text
    by_basic = await token_request(http, discovery, {"grant_type": "client_credentials"},
                                   basic(client["client_id"], client["client_secret"]))
    assert_oauth_error(by_basic, 401, "invalid_client")


@pytest.mark.parametrize("data, error", [
    ({"grant_type": "password", "username": "u", "password": "p"}, "unsupported_grant_type"),
    ({"grant_type": "implicit"}, "unsupported_grant_type"),
    ({"grant_type": "urn:example:unknown"}, "unsupported_grant_type"),
    ({}, "invalid_request"),
])
async def test_grants_that_do_not_exist_here_are_refused_by_name(http, discovery, data, error):
    client = await make_client(http)
    response = await token_request(http, discovery, data, basic(client["client_id"], client["client_secret"]))
    assert_oauth_error(response, 400, error)


async def test_malformed_requests_are_invalid_request_never_a_500(http, discovery):
    client = await make_client(http)
    auth = basic(client["client_id"], client["client_secret"])
    path = endpoint(discovery, "token_endpoint")
    cases = [
        (b"grant_type=client_credentials&grant_type=client_credentials", FORM),
        (b"grant_type=client_credentials&scope=a&scope=b", FORM),
        (json.dumps({"grant_type": "client_credentials"}).encode(), {"Content-Type": "application/json"}),
        (b"grant_type=client_credentials", {}),
        (b"\xff\xfe=\x00", FORM),
        (b"grant_type=%ff", FORM),
        (b"a=1&&&=", FORM),
    ]
    for body, headers in cases:
        response = await http.post(path, content=body, headers={"Authorization": "", **auth, **headers})
        assert_oauth_error(response, 400, "invalid_request")
    garbage = await http.post(path, content=b"grant_type=client_credentials",
                              headers={"Authorization": "Basic !!!notbase64", **FORM})
    assert_oauth_error(garbage, 401, "invalid_client")
    assert (await http.get(path)).status_code == 405


async def test_an_opaque_token_is_introspected_and_revoked(http, discovery):
    client = await make_client(http, token_format="opaque")
    token = (await get_token(http, discovery, client)).json()["access_token"]
    assert token.startswith("kp_at_") and token.count(".") == 0
    auth = basic(client["client_id"], client["client_secret"])
    introspected = await http.post(endpoint(discovery, "introspection_endpoint"), data={"token": token},
                                   headers={"Authorization": "", **FORM, **auth})
    body = introspected.json()
    assert body["active"] is True and body["client_id"] == client["client_id"]
    assert body["scope"] == "documents.read documents.write" and body["aud"] == AUDIENCE
    revoked = await http.post(endpoint(discovery, "revocation_endpoint"), data={"token": token},
                              headers={"Authorization": "", **FORM, **auth})
    assert revoked.status_code == 200
    again = await http.post(endpoint(discovery, "introspection_endpoint"), data={"token": token},
                            headers={"Authorization": "", **FORM, **auth})
    assert again.json() == {"active": False}


async def test_introspection_answers_inactive_for_revoked_expired_foreign_and_junk_tokens(http, discovery, clock):
    client = await make_client(http)
    auth = {"Authorization": "", **FORM, **basic(client["client_id"], client["client_secret"])}
    introspect = endpoint(discovery, "introspection_endpoint")
    live = (await get_token(http, discovery, client)).json()["access_token"]
    active = (await http.post(introspect, data={"token": live}, headers=auth)).json()
    assert active["active"] is True and active["sub"] == client["client_id"]
    foreign = pyjwt.encode({"iss": discovery["issuer"], "sub": "x", "exp": int(time.time()) + 60},
                           ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                           headers={"kid": pyjwt.get_unverified_header(live)["kid"], "typ": "at+jwt"})
    for junk in (foreign, "not-a-token", live + "x", "a.b.c", "kp_at_" + "A" * 28):
        assert (await http.post(introspect, data={"token": junk}, headers=auth)).json() == {"active": False}
    await http.post(endpoint(discovery, "revocation_endpoint"), data={"token": live}, headers=auth)
    assert (await http.post(introspect, data={"token": live}, headers=auth)).json() == {"active": False}
    fresh = (await get_token(http, discovery, client)).json()["access_token"]
    clock.advance(seconds=3600)
    assert (await http.post(introspect, data={"token": fresh}, headers=auth)).json() == {"active": False}


async def test_introspection_needs_an_authenticated_caller(http, discovery, make_root_key):
    client = await make_client(http)
    token = (await get_token(http, discovery, client)).json()["access_token"]
    introspect = endpoint(discovery, "introspection_endpoint")
    anonymous = await http.post(introspect, data={"token": token}, headers={"Authorization": "", **FORM})
    assert_oauth_error(anonymous, 401, "invalid_client")
    allowed = await make_root_key("tokens.introspect")
    by_root = await http.post(introspect, data={"token": token},
                              headers={"Authorization": f"Bearer {allowed['key']}", **FORM})
    assert by_root.json()["active"] is True
    lacking = await make_root_key("keys.read")
    refused = await http.post(introspect, data={"token": token},
                              headers={"Authorization": f"Bearer {lacking['key']}", **FORM})
    assert_oauth_error(refused, 403, "insufficient_scope")


async def test_a_client_cannot_revoke_another_clients_token(http, discovery):
    owner, other = await make_client(http), await make_client(http)
    token = (await get_token(http, discovery, owner)).json()["access_token"]
    response = await http.post(endpoint(discovery, "revocation_endpoint"), data={"token": token},
                               headers={"Authorization": "", **FORM, **basic(other["client_id"], other["client_secret"])})
    assert response.status_code == 200  # RFC 7009: no hint either way
    still = await http.post(endpoint(discovery, "introspection_endpoint"), data={"token": token},
                            headers={"Authorization": "", **FORM, **basic(owner["client_id"], owner["client_secret"])})
    assert still.json()["active"] is True


async def test_revoked_jwts_appear_in_the_feed_until_they_expire(http, discovery, clock):
    client = await make_client(http)
    auth = {"Authorization": "", **FORM, **basic(client["client_id"], client["client_secret"])}
    token = (await get_token(http, discovery, client)).json()["access_token"]
    jti = pyjwt.decode(token, options={"verify_signature": False})["jti"]
    await http.post(endpoint(discovery, "revocation_endpoint"), data={"token": token}, headers=auth)
    feed = (await http.get("/v1/revocations")).json()
    assert [item["jti"] for item in feed["items"]] == [jti]
    later = (clock.now() + timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    assert (await http.get("/v1/revocations", params={"since": later})).json()["items"] == []
    clock.advance(seconds=3600)
    assert (await http.get("/v1/revocations")).json()["items"] == []


async def test_private_key_jwt_authenticates_once_per_assertion(http, discovery, clock):
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid="k1", alg="ES256", use="sig")
    client = await make_client(http, token_endpoint_auth_method="private_key_jwt", jwks={"keys": [jwk]})
    now = int(clock.now().timestamp())

    def assertion(**claims):
        body = {"iss": client["client_id"], "sub": client["client_id"],
                "aud": discovery["token_endpoint"], "exp": now + 60, "iat": now,
                "jti": str(uuid.uuid4()), **claims}
        return pyjwt.encode(body, private, algorithm="ES256", headers={"kid": "k1"})

    def form(value):
        return {"grant_type": "client_credentials", "client_assertion": value,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}

    first = assertion()
    assert (await token_request(http, discovery, form(first))).status_code == 200
    assert_oauth_error(await token_request(http, discovery, form(first)), 401, "invalid_client")
    for bad in (assertion(aud="https://elsewhere.example"), assertion(exp=now + 3600),
                assertion(exp=now - 120), assertion(sub="cli_someone_else")):
        assert_oauth_error(await token_request(http, discovery, form(bad)), 401, "invalid_client")
    stranger = pyjwt.encode({"iss": client["client_id"], "sub": client["client_id"],
                             "aud": discovery["token_endpoint"], "exp": now + 60, "jti": "x"},
                            ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "k1"})
    assert_oauth_error(await token_request(http, discovery, form(stranger)), 401, "invalid_client")


@pytest.fixture
async def served_app(settings, clock, root_key):
    """The app itself beside a client on it."""
    async with running_app(settings, clock=clock, root_key=root_key) as (client, app):
        yield client, app


@pytest.fixture
def served(served_app):
    """A client on the app, and the app's services (to flush the audit log)."""
    http, app = served_app
    return http, app.state.services


async def test_token_events_are_audited_without_the_token(served):
    http, services = served
    discovery = (await http.get("/.well-known/oauth-authorization-server")).json()
    client = await make_client(http)
    token = (await get_token(http, discovery, client)).json()["access_token"]
    await token_request(http, discovery, {"grant_type": "client_credentials"},
                        basic(client["client_id"], "kp_cs_wrong"))
    await services.audit_writer.flush()  # token events are written in batches
    log = await http.get("/v1/audit", params={"limit": 50})
    actions = [e["action"] for e in log.json()["items"]]
    assert "token.issue" in actions and "client.auth_failure" in actions
    assert token not in log.text and client["client_secret"] not in log.text


async def test_deleting_a_client_ends_its_opaque_tokens(http, discovery, make_root_key):
    client = await make_client(http, token_format="opaque")
    token = (await get_token(http, discovery, client)).json()["access_token"]
    assert (await http.delete(f"/v1/clients/{client['client_id']}")).status_code == 204
    introspector = await make_root_key("tokens.introspect")
    answer = await http.post(endpoint(discovery, "introspection_endpoint"), data={"token": token},
                             headers={"Authorization": f"Bearer {introspector['key']}", **FORM})
    assert answer.json() == {"active": False}


async def test_deleting_a_client_makes_its_jwts_inactive_at_once_and_no_other_clients(http, discovery,
                                                                                      make_root_key):
    doomed, other = await make_client(http), await make_client(http)
    tokens = [(await get_token(http, discovery, doomed)).json()["access_token"] for _ in range(2)]
    kept = (await get_token(http, discovery, other)).json()["access_token"]
    introspector = await make_root_key("tokens.introspect")
    introspect = endpoint(discovery, "introspection_endpoint")

    async def active(token: str) -> bool:
        answer = await http.post(introspect, data={"token": token},
                                 headers={"Authorization": f"Bearer {introspector['key']}", **FORM})
        return bool(answer.json()["active"])

    # Introspected once before: kept verified and found unrevoked by introspection's caches.
    assert all([await active(t) for t in (*tokens, kept)])
    assert (await http.delete(f"/v1/clients/{doomed['client_id']}")).status_code == 204
    assert not await active(tokens[0]) and not await active(tokens[1])
    assert await active(kept)


async def test_the_feed_lists_a_deleted_client_between_revoked_jtis_and_pages_through_them(http, discovery,
                                                                                           clock):
    doomed, other = await make_client(http), await make_client(http)
    auth = {"Authorization": "", **FORM, **basic(other["client_id"], other["client_secret"])}
    revoked = []
    for step in ("jti", "client", "jti"):
        clock.advance(seconds=1)
        if step == "client":
            await get_token(http, discovery, doomed)
            assert (await http.delete(f"/v1/clients/{doomed['client_id']}")).status_code == 204
            deleted_at = clock.now()
            continue
        token = (await get_token(http, discovery, other)).json()["access_token"]
        revoked.append(pyjwt.decode(token, options={"verify_signature": False})["jti"])
        await http.post(endpoint(discovery, "revocation_endpoint"), data={"token": token}, headers=auth)
    items, cursor = [], None
    while True:
        page = (await http.get("/v1/revocations", params={"limit": 1, **({"cursor": cursor} if cursor else {})})).json()
        assert len(page["items"]) <= 1
        items += page["items"]
        if not (cursor := page["next_cursor"]):
            break
    assert [item["jti"] for item in items] == [revoked[0], None, revoked[1]]
    assert [set(item) for item in items] == [{"jti", "expires_at", "revoked_at"},
                                             {"jti", "client_id", "expires_at", "revoked_at"},
                                             {"jti", "expires_at", "revoked_at"}]
    entry = items[1]
    assert entry["client_id"] == doomed["client_id"]
    # Every token issued up to a minute after the deletion (requests in flight), kept until
    # any of them could have expired: that minute plus the longest lifetime.
    assert datetime.fromisoformat(entry["revoked_at"]) == deleted_at + timedelta(seconds=60)
    assert datetime.fromisoformat(entry["expires_at"]) == deleted_at + timedelta(seconds=60, days=1)
    # `since` reads revocations by their `revoked_at`: the deleted client's runs to a
    # minute past the deletion, so it is listed still a second after it.
    later = (deleted_at + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    assert [i["jti"] for i in (await http.get("/v1/revocations", params={"since": later})).json()["items"]] == [
        None, revoked[1]]
    clock.advance(seconds=86_460)
    assert (await http.get("/v1/revocations")).json()["items"] == []


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_a_token_issued_by_a_request_in_flight_as_its_client_is_deleted_is_never_active(
        served, clock, token_format):
    # The token request authenticated the client just before the deletion, and issues its
    # token a moment after it (in a later second: past the deletion's own time).
    http, services = served
    discovery = (await http.get("/.well-known/oauth-authorization-server")).json()
    made = await make_client(http, token_format=token_format)
    authenticated = await services.clients.get_client(made["client_id"])
    assert (await http.delete(f"/v1/clients/{made['client_id']}")).status_code == 204
    clock.advance(seconds=2)
    issued = await services.tokens.issue(authenticated, subject=authenticated.id,
                                         scope=("documents.read",), audience=(AUDIENCE,))
    introspected = await http.post(endpoint(discovery, "introspection_endpoint"),
                                   data={"token": issued.access_token}, headers=FORM)  # the root key
    assert introspected.json() == {"active": False}
    if token_format == "jwt":  # and verifiers following the feed refuse it too
        [entry] = (await http.get("/v1/revocations")).json()["items"]
        iat = pyjwt.decode(issued.access_token, options={"verify_signature": False})["iat"]
        assert entry["client_id"] == made["client_id"]
        assert datetime.fromisoformat(entry["revoked_at"]).timestamp() >= iat


async def test_a_token_introspected_before_is_inactive_once_expired_revoked_or_its_key_withdrawn(http, discovery, clock):
    # Introspection keeps the tokens it verified (the signature check is most of its cost):
    # expiry, revocation and a withdrawn signing key must still be seen at the next call.
    client = await make_client(http, access_token_ttl_seconds=600)
    auth = {"Authorization": "", **FORM, **basic(client["client_id"], client["client_secret"])}
    introspect = endpoint(discovery, "introspection_endpoint")

    async def active(token: str) -> bool:
        return bool((await http.post(introspect, data={"token": token}, headers=auth)).json()["active"])

    expiring, revoked, withdrawn = [(await get_token(http, discovery, client)).json()["access_token"]
                                    for _ in range(3)]
    for token in (expiring, revoked, withdrawn):
        assert await active(token) and await active(token)
    await http.post(endpoint(discovery, "revocation_endpoint"), data={"token": revoked}, headers=auth)
    assert not await active(revoked)
    clock.advance(seconds=599)
    assert await active(expiring)
    clock.advance(seconds=1)
    assert not await active(expiring)
    clock.advance(seconds=-600)
    assert await active(withdrawn)
    rotated = await http.post("/v1/signing-keys/rotate", json={"immediate": True})
    assert rotated.status_code == 201, rotated.text
    assert not await active(withdrawn)


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/introspect"])
async def test_a_caller_gone_before_its_body_ended_gets_no_answer_and_nothing_is_issued(served_app, path):
    # The hot endpoints read the ASGI channel themselves: a disconnect mid-body is no
    # error to log, and a truncated form is never acted on.
    http, app = served_app
    services = app.state.services
    client = await make_client(http)
    discovery = (await http.get("/.well-known/oauth-authorization-server")).json()
    token = (await get_token(http, discovery, client)).json()["access_token"]
    body = {"/oauth/token": b"grant_type=client_credentials", "/oauth/introspect": f"token={token}".encode()}[path]
    auth = basic(client["client_id"], client["client_secret"])["Authorization"].encode()
    messages = [{"type": "http.request", "body": body, "more_body": True}, {"type": "http.disconnect"}]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    issued_before = services.audit_writer.added
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"authorization", auth)],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "state": {}}
    await app(scope, receive, send)
    assert sent == [] and messages == []
    assert services.audit_writer.added == issued_before


async def test_concurrent_token_requests_of_one_client_are_all_answered(http, discovery):
    # A client's secret, matched once, is matched again by identity of its stored
    # credentials; concurrent requests that all found that match stale once dropped it twice
    # (a KeyError, 500s on PostgreSQL, where every read is a new object).
    client = await make_client(http)
    await get_token(http, discovery, client)
    answers = await asyncio.gather(*(token_request(
        http, discovery, {"grant_type": "client_credentials"},
        basic(client["client_id"], client["client_secret"])) for _ in range(20)))
    assert [a.status_code for a in answers] == [200] * 20
