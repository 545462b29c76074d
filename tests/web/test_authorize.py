"""The authorization code flow with PKCE, end to end over HTTP as a browser and a client
would drive it (RFC 6749 §4.1, RFC 7636, RFC 9700, RFC 9207), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import urlsplit

import jwt as pyjwt
import pytest

from keyplane.store.tokens import SqlTokenRepository

from users.browser import (
    AUDIENCE,
    FORM,
    PASSWORD,
    REDIRECT_URI,
    create_client,
    create_user,
    csrf_of,
    log_in,
    pkce_pair,
    query_of,
)

ISSUER = "http://127.0.0.1:8080"


@pytest.fixture(autouse=True)
def real_time(clock):
    # Tokens are checked by PyJWT against the real clock: keyplane's starts there too.
    clock.set(datetime.now(UTC).replace(microsecond=0))


def authorize_params(client, challenge, **extra):
    params = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT_URI,
              "state": "xyz-123", "scope": "photos.read photos.write",
              "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


async def approve(browser, params, *, username="alice", password=PASSWORD):
    """GET authorize → login page → POST login → consent → POST allow: the redirect."""
    start = await browser.get("/oauth/authorize", params=params)
    if start.status_code == 303 and start.headers["location"].startswith("/login"):
        login_page = await browser.get(start.headers["location"])
        assert login_page.status_code == 200, login_page.text
        next_path = query_of(start.headers["location"])["next"]
        logged_in = await browser.post("/login", data={
            "csrf_token": csrf_of(login_page), "username": username, "password": password,
            "next": next_path})
        assert logged_in.status_code == 303, logged_in.text
        assert logged_in.headers["location"] == next_path
        start = await browser.get(next_path)
    if start.status_code != 200:
        return start
    consent = start
    assert "Photo Printer" in consent.text
    return await browser.post("/oauth/authorize", data={
        "csrf_token": csrf_of(consent), "request": urlsplit(str(consent.url)).query,
        "decision": "approve"})


async def exchange(http, client, code, verifier, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier, "client_id": client["client_id"], **extra}
    return await http.post("/oauth/token", data={k: v for k, v in data.items() if v is not None},
                           headers={"Authorization": "", **FORM})


async def verify_with_jwks(http, token):
    jwks = (await http.get("/.well-known/jwks.json")).json()
    header = pyjwt.get_unverified_header(token)
    [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    return pyjwt.decode(token, pyjwt.PyJWK(jwk).key, algorithms=[jwk["alg"]], audience=AUDIENCE,
                        issuer=ISSUER, options={"require": ["exp", "iat", "jti", "sub", "iss", "aud"]})


async def code_for(http, browser, client=None, **extra):
    client = client or await create_client(http)
    verifier, challenge = pkce_pair()
    redirect = await approve(browser, authorize_params(client, challenge, **extra))
    assert redirect.status_code == 303, redirect.text  # the consent form's POST answered with a GET
    return client, verifier, query_of(redirect.headers["location"])


async def test_discovery_announces_the_authorization_endpoint(http):
    meta = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert meta["authorization_endpoint"] == ISSUER + "/oauth/authorize"
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert "authorization_code" in meta["grant_types_supported"]


async def test_a_person_logs_in_consents_and_the_client_gets_a_token_for_them(http, browser):
    user = await create_user(http)
    client = await create_client(http)
    verifier, challenge = pkce_pair()
    redirect = await approve(browser, authorize_params(client, challenge))
    assert redirect.status_code == 303
    location = redirect.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    answer = query_of(location)
    assert answer["state"] == "xyz-123" and answer["iss"] == ISSUER and len(answer["code"]) == 43
    assert redirect.headers["cache-control"] == "no-store"

    token = await exchange(http, client, answer["code"], verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "photos.read photos.write"
    claims = await verify_with_jwks(http, body["access_token"])
    assert claims["sub"] == user["id"] and claims["client_id"] == client["client_id"]
    assert claims["scope"] == "photos.read photos.write" and claims["aud"] == AUDIENCE

    consents = (await http.get(f"/v1/users/{user['id']}/consents")).json()["items"]
    assert [(c["client_id"], c["scopes"]) for c in consents] == [
        (client["client_id"], ["photos.read", "photos.write"])]


async def test_a_remembered_consent_skips_the_page_until_it_is_withdrawn(http, browser):
    user = await create_user(http)
    client, _, _ = await code_for(http, browser)
    _, challenge = pkce_pair()
    again = await browser.get("/oauth/authorize", params=authorize_params(client, challenge, scope="photos.read"))
    assert again.status_code == 302 and "code" in query_of(again.headers["location"])
    wider = await browser.get("/oauth/authorize", params=authorize_params(client, challenge, scope="admin.all"))
    assert wider.status_code == 200 and "Allow Photo Printer" in wider.text

    withdrawn = await http.delete(f"/v1/users/{user['id']}/consents/{client['client_id']}")
    assert withdrawn.status_code == 204
    asked = await browser.get("/oauth/authorize", params=authorize_params(client, challenge))
    assert asked.status_code == 200 and "Allow Photo Printer" in asked.text


async def test_the_consent_page_names_the_client_and_the_scopes_in_plain_words(http, browser):
    await create_user(http)
    client = await create_client(http)
    _, challenge = pkce_pair()
    await log_in(browser)
    consent = await browser.get("/oauth/authorize", params=authorize_params(client, challenge))
    assert consent.status_code == 200
    assert "See your photos" in consent.text and "Change your photos" in consent.text
    assert "<code>photos.read</code>" in consent.text and "alice" in consent.text
    assert "default-src 'none'" in consent.headers["content-security-policy"]


async def test_denying_redirects_access_denied_with_state_and_iss(http, browser):
    await create_user(http)
    client = await create_client(http)
    _, challenge = pkce_pair()
    await log_in(browser)
    consent = await browser.get("/oauth/authorize", params=authorize_params(client, challenge))
    denied = await browser.post("/oauth/authorize", data={
        "csrf_token": csrf_of(consent), "request": urlsplit(str(consent.url)).query, "decision": "deny"})
    assert denied.status_code == 303
    answer = query_of(denied.headers["location"])
    assert answer["error"] == "access_denied" and answer["state"] == "xyz-123" and answer["iss"] == ISSUER
    assert "code" not in answer


@pytest.mark.parametrize("token", [None, "0" * 64])
async def test_a_consent_without_the_csrf_token_is_refused(http, browser, token):
    await create_user(http)
    client = await create_client(http)
    _, challenge = pkce_pair()
    await log_in(browser)
    consent = await browser.get("/oauth/authorize", params=authorize_params(client, challenge))
    form = {"request": urlsplit(str(consent.url)).query, "decision": "approve"}
    if token is not None:
        form["csrf_token"] = token
    response = await browser.post("/oauth/authorize", data=form)
    assert response.status_code == 403 and "location" not in response.headers


async def test_a_wrong_verifier_is_invalid_grant(http, browser):
    await create_user(http)
    client, verifier, answer = await code_for(http, browser)
    other, _ = pkce_pair()
    response = await exchange(http, client, answer["code"], other)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    for bad in ("short", "x" * 129, "é" * 50):
        response = await exchange(http, client, answer["code"], bad)
        assert response.json()["error"] == "invalid_grant"
    # A wrong verifier does not use the code up: its holder, with the verifier, still can.
    assert (await exchange(http, client, answer["code"], verifier)).status_code == 200


@pytest.mark.parametrize("method", ["plain", "S512", None])
async def test_pkce_methods_other_than_s256_are_refused_at_the_redirect_uri(http, browser, method):
    await create_user(http)
    client = await create_client(http)
    await log_in(browser)
    _, challenge = pkce_pair()
    response = await browser.get("/oauth/authorize", params=authorize_params(
        client, challenge, code_challenge_method=method))
    assert response.status_code == 302
    answer = query_of(response.headers["location"])
    assert answer["error"] == "invalid_request" and "S256" in answer["error_description"]
    assert answer["state"] == "xyz-123" and answer["iss"] == ISSUER


async def test_every_client_must_use_pkce_unless_a_confidential_one_opted_out(http, browser):
    await create_user(http)
    public = await create_client(http)
    assert public["pkce_required"] is True
    by_default = await create_client(http, type="confidential")
    assert by_default["pkce_required"] is True
    for client in (public, by_default):
        response = await browser.get("/oauth/authorize", params=authorize_params(
            client, None, code_challenge_method=None))
        assert response.status_code == 302
        refused = query_of(response.headers["location"])
        assert refused["error"] == "invalid_request" and "PKCE" in refused["error_description"]

    opted_out = await http.patch(f"/v1/clients/{by_default['client_id']}", json={"pkce_required": False})
    assert opted_out.status_code == 200 and opted_out.json()["pkce_required"] is False
    confidential = {**by_default, **opted_out.json()}
    await log_in(browser)
    consent = await browser.get("/oauth/authorize", params=authorize_params(
        confidential, None, code_challenge_method=None))
    assert consent.status_code == 200
    approved = await browser.post("/oauth/authorize", data={
        "csrf_token": csrf_of(consent), "request": urlsplit(str(consent.url)).query, "decision": "approve"})
    code = query_of(approved.headers["location"])["code"]
    import base64
    auth = base64.b64encode(f"{confidential['client_id']}:{confidential['client_secret']}".encode()).decode()
    token = await http.post("/oauth/token", data={"grant_type": "authorization_code", "code": code,
                                                  "redirect_uri": REDIRECT_URI},
                            headers={"Authorization": f"Basic {auth}", **FORM})
    assert token.status_code == 200, token.text


@pytest.mark.parametrize("redirect_uri", ["https://evil.example/callback", REDIRECT_URI + "/x",
                                          REDIRECT_URI.upper(), "http://localhost:8765/callback",
                                          "http://127.0.0.1:8765/callback?x=1"])
async def test_a_mismatched_redirect_uri_shows_an_error_page_and_never_redirects(http, browser, redirect_uri):
    await create_user(http)
    client = await create_client(http)
    _, challenge = pkce_pair()
    response = await browser.get("/oauth/authorize", params=authorize_params(
        client, challenge, redirect_uri=redirect_uri))
    assert response.status_code == 400 and "location" not in response.headers
    assert "not one the application registered" in response.text


@pytest.mark.parametrize("client_id", [None, "cli_00000000000000000000000000", "nope"])
async def test_an_unknown_client_shows_an_error_page(http, browser, client_id):
    _, challenge = pkce_pair()
    params = {"response_type": "code", "redirect_uri": REDIRECT_URI, "code_challenge": challenge,
              "code_challenge_method": "S256", **({"client_id": client_id} if client_id else {})}
    response = await browser.get("/oauth/authorize", params=params)
    assert response.status_code == 400 and "location" not in response.headers


async def test_a_loopback_redirect_uri_may_use_any_port(http, browser):
    await create_user(http)
    client = await create_client(http, redirect_uris=["http://127.0.0.1/callback", "http://[::1]:1/cb"])
    verifier, challenge = pkce_pair()
    for uri in ("http://127.0.0.1:51234/callback", "http://[::1]:40000/cb"):
        redirect = await approve(browser, authorize_params(client, challenge, redirect_uri=uri))
        assert redirect.headers["location"].startswith(uri + "?")
        code = query_of(redirect.headers["location"])["code"]
        token = await exchange(http, client, code, verifier, redirect_uri=uri)
        assert token.status_code == 200, token.text


async def test_the_token_request_must_repeat_the_redirect_uri(http, browser):
    await create_user(http)
    client, verifier, answer = await code_for(http, browser)
    response = await exchange(http, client, answer["code"], verifier,
                              redirect_uri="http://127.0.0.1:8765/other")
    assert response.json()["error"] == "invalid_grant"


async def test_a_reused_code_is_refused_and_revokes_the_token_it_issued(http, browser, services,
                                                                       monkeypatch):
    # PostgreSQL's notice of the new deny-list row is late (here: never comes): the process
    # that saw the replay answers the token inactive at once all the same.
    monkeypatch.setattr(SqlTokenRepository, "notice", lambda self, payload: None)
    await create_user(http)
    client, verifier, answer = await code_for(http, browser)
    first = await exchange(http, client, answer["code"], verifier)
    assert first.status_code == 200
    token = first.json()["access_token"]
    introspector = await http.post("/v1/root-keys", json={"name": "i", "permissions": ["tokens.introspect"]})
    auth = {"Authorization": f"Bearer {introspector.json()['key']}", **FORM}
    assert (await http.post("/oauth/introspect", data={"token": token}, headers=auth)).json()["active"]

    again = await exchange(http, client, answer["code"], verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert (await http.post("/oauth/introspect", data={"token": token}, headers=auth)).json() == {"active": False}
    jti = pyjwt.decode(token, options={"verify_signature": False})["jti"]
    feed = (await http.get("/v1/revocations")).json()
    assert jti in [r["jti"] for r in feed["items"]]
    events = (await http.get("/v1/audit", params={"action": "authorization_code.reuse"})).json()["items"]
    assert len(events) == 1 and answer["code"] not in str(events)


async def test_a_reused_code_deletes_the_opaque_token_it_issued(http, browser):
    await create_user(http)
    client = await create_client(http, token_format="opaque")
    client, verifier, answer = await code_for(http, browser, client)
    token = (await exchange(http, client, answer["code"], verifier)).json()["access_token"]
    await exchange(http, client, answer["code"], verifier)
    introspector = await http.post("/v1/root-keys", json={"name": "i", "permissions": ["tokens.introspect"]})
    auth = {"Authorization": f"Bearer {introspector.json()['key']}", **FORM}
    assert (await http.post("/oauth/introspect", data={"token": token}, headers=auth)).json() == {"active": False}


async def test_a_code_expires_after_60_seconds(http, browser, clock):
    await create_user(http)
    client, verifier, answer = await code_for(http, browser)
    clock.advance(seconds=60)
    response = await exchange(http, client, answer["code"], verifier)
    assert response.json()["error"] == "invalid_grant" and "expired" in response.json()["error_description"]


async def test_a_code_is_bound_to_its_client(http, browser):
    await create_user(http)
    client, verifier, answer = await code_for(http, browser)
    other = await create_client(http, name="Other App")
    response = await exchange(http, other, answer["code"], verifier)
    assert response.json()["error"] == "invalid_grant"
    assert (await exchange(http, client, answer["code"], verifier)).status_code == 200


async def test_a_disabled_user_cannot_log_in_and_their_codes_stop_working(http, browser):
    user = await create_user(http)
    client, verifier, answer = await code_for(http, browser)
    await http.patch(f"/v1/users/{user['id']}", json={"disabled": True})
    assert (await exchange(http, client, answer["code"], verifier)).json()["error"] == "invalid_grant"
    _, challenge = pkce_pair()
    start = await browser.get("/oauth/authorize", params=authorize_params(client, challenge))
    assert start.status_code == 303  # the session ended: to the login page
    login_page = await browser.get(start.headers["location"])
    failed = await browser.post("/login", data={"csrf_token": csrf_of(login_page), "username": "alice",
                                                "password": PASSWORD})
    assert failed.status_code == 401


async def test_scopes_named_by_a_role_go_only_to_users_holding_it(http, browser):
    await http.put("/v1/roles/admin", json={"scopes": ["admin.all"]})
    await create_user(http)
    await create_user(http, "root", roles=["admin"])
    client = await create_client(http)
    verifier, challenge = pkce_pair()
    redirect = await approve(browser, authorize_params(client, challenge, scope="photos.read admin.all"))
    code = query_of(redirect.headers["location"])["code"]
    token = (await exchange(http, client, code, verifier)).json()
    assert token["scope"] == "photos.read"  # admin.all is left out for alice

    only_admin = await browser.get("/oauth/authorize", params=authorize_params(client, challenge, scope="admin.all"))
    assert query_of(only_admin.headers["location"])["error"] == "access_denied"

    browser.cookies.clear()
    redirect = await approve(browser, authorize_params(client, challenge, scope="photos.read admin.all"),
                             username="root")
    code = query_of(redirect.headers["location"])["code"]
    assert (await exchange(http, client, code, verifier)).json()["scope"] == "photos.read admin.all"


@pytest.mark.parametrize("params, error", [
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"response_type": None}, "invalid_request"),
    ({"scope": "photos.delete"}, "invalid_scope"),
    ({"resource": "https://other.example.com"}, "invalid_target"),
    ({"code_challenge": "too-short"}, "invalid_request"),
])
async def test_other_errors_go_back_to_the_redirect_uri(http, browser, params, error):
    client = await create_client(http)
    _, challenge = pkce_pair()
    response = await browser.get("/oauth/authorize", params=authorize_params(client, challenge, **params))
    assert response.status_code == 302, response.text
    answer = query_of(response.headers["location"])
    assert answer["error"] == error and answer["state"] == "xyz-123" and answer["iss"] == ISSUER


async def test_a_client_without_the_grant_is_unauthorized_client(http, browser):
    client = await create_client(http, type="confidential", grant_types=["client_credentials"])
    _, challenge = pkce_pair()
    response = await browser.get("/oauth/authorize", params=authorize_params(client, challenge))
    assert query_of(response.headers["location"])["error"] == "unauthorized_client"


async def test_resource_narrows_the_audience(http, browser):
    await create_user(http)
    other = "https://reports.example.com"
    client = await create_client(http, audiences=[AUDIENCE, other])
    client, verifier, answer = await code_for(http, browser, client, resource=other)
    token = (await exchange(http, client, answer["code"], verifier)).json()["access_token"]
    assert pyjwt.decode(token, options={"verify_signature": False})["aud"] == other


async def test_racing_redemptions_of_one_code_give_one_token_and_then_revoke_it(http, browser):
    await create_user(http)
    client, verifier, answer = await code_for(http, browser)
    responses = await asyncio.gather(*(exchange(http, client, answer["code"], verifier) for _ in range(10)))
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1
    assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code != 200)
    # The losers were replays: whenever they came, the winner's token ends up revoked.
    introspector = await http.post("/v1/root-keys", json={"name": "i", "permissions": ["tokens.introspect"]})
    auth = {"Authorization": f"Bearer {introspector.json()['key']}", **FORM}
    token = winners[0].json()["access_token"]
    assert (await http.post("/oauth/introspect", data={"token": token}, headers=auth)).json() == {"active": False}


async def test_a_public_client_cannot_opt_out_of_pkce(http):
    response = await http.post("/v1/clients", json={
        "name": "spa", "type": "public", "grant_types": ["authorization_code"],
        "redirect_uris": [REDIRECT_URI], "pkce_required": False})
    assert response.status_code == 422
    assert any(e["field"] == "pkce_required" for e in response.json()["errors"])
    public = await create_client(http)
    patched = await http.patch(f"/v1/clients/{public['client_id']}", json={"pkce_required": False})
    assert patched.status_code == 422
    assert (await http.patch(f"/v1/clients/{public['client_id']}", json={"pkce_required": None})).status_code == 422
