"""OpenID Connect for the authorization code flow, driven by Authlib's OpenID Connect client
through discovery alone, and by a browser (ID tokens, userinfo, prompt, max_age,
RP-initiated logout), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt as pyjwt
import pytest
from authlib.integrations.starlette_client import OAuth
from joserfc.errors import InvalidClaimError

from dpop_proofs import DpopKey
from keyplane.clock import FakeClock
from users.browser import AUDIENCE, FORM, REDIRECT_URI, create_client, create_user, csrf_of, query_of
from users.conftest import app_services, browser, http, services  # noqa: F401 - the browser tests' app

ISSUER = "http://127.0.0.1:8080"
LOGOUT_URI = "http://127.0.0.1:8765/signed-out"
DISCOVERY = ISSUER + "/.well-known/openid-configuration"


@pytest.fixture(autouse=True)
def real_time(clock: FakeClock) -> None:
    # Authlib checks ID tokens against the real clock: keyplane's starts there too.
    clock.set(datetime.now(UTC).replace(microsecond=0))


def path_of(url: str) -> str:
    """An absolute URL of the issuer as the browser (on the test host) asks for it."""
    assert url.startswith(ISSUER + "/"), url
    return url[len(ISSUER):]


async def oidc_client(http: httpx.AsyncClient, *, scopes: tuple[str, ...] = ("openid", "profile", "photos.read"),
                      **fields: Any) -> dict[str, Any]:
    return await create_client(http, scopes=list(scopes), post_logout_redirect_uris=[LOGOUT_URI],
                               **fields)


def relying_party(http: httpx.AsyncClient, client: dict[str, Any], scope: str = "openid profile") -> Any:
    """Authlib's OpenID Connect client, knowing the issuer's discovery URL and nothing else."""
    return OAuth().register(
        "keyplane", client_id=client["client_id"], server_metadata_url=DISCOVERY,
        client_kwargs={"scope": scope, "code_challenge_method": "S256",
                       "token_endpoint_auth_method": "none", "transport": http._transport})


async def log_in_at(browser: httpx.AsyncClient, login_location: str, username: str = "alice") -> str:
    """Fill in the login page the authorization endpoint sent the browser to: where it goes next."""
    login_page = await browser.get(login_location)
    assert login_page.status_code == 200 and "Log in" in login_page.text, login_page.text
    next_path = query_of(login_location)["next"]
    logged_in = await browser.post("/login", data={
        "csrf_token": csrf_of(login_page), "username": username,
        "password": "correct horse battery staple", "next": next_path})
    assert logged_in.status_code == 303, logged_in.text
    return str(logged_in.headers["location"])


async def sign_in(browser: httpx.AsyncClient, url: str) -> str:
    """A person follows the authorization URL: logs in and approves as asked; the client's
    redirect URI with the answer."""
    response = await browser.get(path_of(url))
    if response.status_code == 303 and response.headers["location"].startswith("/login"):
        response = await browser.get(await log_in_at(browser, response.headers["location"]))
    if response.status_code == 200:
        assert "<h1>Allow " in response.text, response.text
        response = await browser.post("/oauth/authorize", data={
            "csrf_token": csrf_of(response), "request": urlsplit(str(response.url)).query,
            "decision": "approve"})
    assert response.status_code in (302, 303), response.text
    location = str(response.headers["location"])
    assert location.startswith(REDIRECT_URI + "?"), location
    return location


async def logged_in_tokens(http: httpx.AsyncClient, browser: httpx.AsyncClient, client: dict[str, Any],
                           scope: str = "openid profile",
                           **params: str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(relying party, authorization request, token response) after a full login."""
    rp = relying_party(http, client, scope)
    start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI, **params)
    answer = query_of(await sign_in(browser, start["url"]))
    assert answer["state"] == start["state"] and answer["iss"] == ISSUER
    token = await rp.fetch_access_token(redirect_uri=REDIRECT_URI, code=answer["code"],
                                        code_verifier=start["code_verifier"])
    return rp, start, dict(token)


def unverified(id_token: str) -> dict[str, Any]:
    return dict(pyjwt.decode(id_token, options={"verify_signature": False}))


async def test_authlib_logs_in_through_discovery_validates_the_id_token_and_reads_userinfo(http, browser):
    user = await create_user(http)
    client = await oidc_client(http)
    rp, start, token = await logged_in_tokens(http, browser, client)
    assert token["token_type"] == "Bearer" and token["scope"] == "openid profile"

    claims = await rp.parse_id_token(token, nonce=start["nonce"])  # signature, iss, aud, nonce, at_hash
    assert claims["sub"] == user["id"] and claims["aud"] == client["client_id"]
    assert claims["iss"] == ISSUER and claims["nonce"] == start["nonce"] and claims["at_hash"]
    assert claims["preferred_username"] == "alice"
    assert abs(claims["auth_time"] - datetime.now(UTC).timestamp()) < 60
    assert isinstance(claims["sid"], str) and len(claims["sid"]) >= 22
    assert pyjwt.get_unverified_header(token["id_token"])["typ"] == "JWT"
    with pytest.raises(InvalidClaimError):
        await rp.parse_id_token(token, nonce="another nonce")

    assert dict(await rp.userinfo(token=token)) == {"sub": user["id"], "preferred_username": "alice"}


EMAIL_CLIENT_SCOPES = ("openid", "profile", "email", "photos.read")


async def test_profile_and_email_release_the_name_and_the_address_the_user_has(http, browser):
    user = await create_user(http, name="Ada Lovelace", email="ada@example.com", email_verified=True)
    client = await oidc_client(http, scopes=EMAIL_CLIENT_SCOPES)
    rp, start, token = await logged_in_tokens(http, browser, client, scope="openid profile email")
    assert token["scope"] == "openid profile email"
    released = {"sub": user["id"], "name": "Ada Lovelace", "preferred_username": "alice",
                "email": "ada@example.com", "email_verified": True}
    assert dict(await rp.userinfo(token=token)) == released
    # The ID token says the same, as it says preferred_username (an access token is issued
    # too, so userinfo is where Core 1.0 §5.4 puts them; the ID token may carry them).
    claims = await rp.parse_id_token(token, nonce=start["nonce"])
    assert {k: claims[k] for k in released} == released


async def test_without_the_email_scope_no_address_is_released(http, browser):
    user = await create_user(http, name="Ada Lovelace", email="ada@example.com", email_verified=True)
    client = await oidc_client(http, scopes=EMAIL_CLIENT_SCOPES)
    rp, _, token = await logged_in_tokens(http, browser, client, scope="openid profile")
    assert dict(await rp.userinfo(token=token)) == {"sub": user["id"], "name": "Ada Lovelace",
                                                    "preferred_username": "alice"}
    assert not {"email", "email_verified"} & set(unverified(token["id_token"]))


async def test_email_without_profile_releases_the_address_alone(http, browser):
    user = await create_user(http, name="Ada Lovelace", email="ada@example.com")
    client = await oidc_client(http, scopes=EMAIL_CLIENT_SCOPES)
    rp, _, token = await logged_in_tokens(http, browser, client, scope="openid email")
    assert dict(await rp.userinfo(token=token)) == {"sub": user["id"], "email": "ada@example.com",
                                                    "email_verified": False}


async def test_a_user_without_name_or_email_gets_neither_claim_not_even_empty(http, browser):
    user = await create_user(http)
    client = await oidc_client(http, scopes=EMAIL_CLIENT_SCOPES)
    rp, _, token = await logged_in_tokens(http, browser, client, scope="openid profile email")
    assert dict(await rp.userinfo(token=token)) == {"sub": user["id"], "preferred_username": "alice"}
    assert not {"name", "email", "email_verified"} & set(unverified(token["id_token"]))

    # Userinfo reads the user as they are now: an address given later is released.
    await http.patch(f"/v1/users/{user['id']}", json={"email": "alice@example.com"})
    assert dict(await rp.userinfo(token=token))["email"] == "alice@example.com"


async def test_the_consent_page_says_what_profile_and_email_release(http, browser):
    await create_user(http, email="ada@example.com")
    client = await oidc_client(http, scopes=EMAIL_CLIENT_SCOPES)
    rp = relying_party(http, client, "openid profile email")
    start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI)
    login = await browser.get(path_of(start["url"]))
    page = await browser.get(await log_in_at(browser, login.headers["location"]))
    assert page.status_code == 200, page.text
    assert "See your name and username" in page.text and "See your email address" in page.text


async def test_a_client_registered_without_email_cannot_ask_for_it(http, browser):
    await create_user(http, email="ada@example.com")
    client = await oidc_client(http)  # openid, profile, photos.read
    rp = relying_party(http, client, "openid email")
    start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI)
    response = await browser.get(path_of(start["url"]))
    assert query_of(response.headers["location"])["error"] == "invalid_scope"


async def test_the_id_token_is_not_an_access_token(http, browser):
    await create_user(http)
    client = await oidc_client(http)
    _, _, token = await logged_in_tokens(http, browser, client)
    for token_value in (token["id_token"],):
        refused = await http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token_value}"})
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
        introspected = await http.post("/oauth/introspect", data={"token": token_value}, headers=FORM)
        assert introspected.json() == {"active": False}


async def test_a_grant_without_openid_gets_no_id_token_and_no_userinfo(http, browser):
    await create_user(http)
    client = await oidc_client(http)
    rp = relying_party(http, client, scope="photos.read")
    start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI)
    answer = query_of(await sign_in(browser, start["url"]))
    token = await rp.fetch_access_token(redirect_uri=REDIRECT_URI, code=answer["code"],
                                        code_verifier=start["code_verifier"])
    assert "id_token" not in token
    refused = await http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert 'scope="openid"' in refused.headers["www-authenticate"]


async def test_userinfo_answers_get_and_post_and_refuses_per_rfc_6750(http, browser):
    user = await create_user(http)
    client = await oidc_client(http)
    _, _, token = await logged_in_tokens(http, browser, client)
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    posted = await http.post("/oauth/userinfo", headers=bearer)
    assert posted.status_code == 200 and posted.json()["sub"] == user["id"]
    assert posted.headers["cache-control"] == "no-store"

    bare = await browser.get("/oauth/userinfo")
    assert bare.status_code == 401 and bare.headers["www-authenticate"] == 'Bearer realm="keyplane"'
    for header in ("Bearer nope", "Bearer " + token["access_token"][:-2], "Bearer " + "x" * 10_000):
        refused = await browser.get("/oauth/userinfo", headers={"Authorization": header})
        assert refused.status_code == 401, header
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    odd = await browser.get("/oauth/userinfo", headers={"Authorization": "Basic abc"})
    assert odd.status_code == 400 and odd.json()["error"] == "invalid_request"
    # A token bound to nothing is refused with the DPoP scheme (RFC 9449 §7.2).
    dpop = await browser.get("/oauth/userinfo", headers={"Authorization": f"DPoP {token['access_token']}"})
    assert dpop.status_code == 401 and dpop.headers["www-authenticate"].startswith("DPoP ")

    revoked = await http.post("/oauth/revoke", data={"token": token["access_token"],
                                                     "client_id": client["client_id"]},
                              headers={**FORM, "Authorization": ""})
    assert revoked.status_code == 200
    gone = await browser.get("/oauth/userinfo", headers=bearer)
    assert gone.status_code == 401 and 'error="invalid_token"' in gone.headers["www-authenticate"]


async def test_a_disabled_user_is_refused_at_userinfo(http, browser):
    user = await create_user(http)
    client = await oidc_client(http)
    _, _, token = await logged_in_tokens(http, browser, client)
    disabled = await http.patch(f"/v1/users/{user['id']}", json={"disabled": True})
    assert disabled.status_code == 200, disabled.text
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    refused = await browser.get("/oauth/userinfo", headers=bearer)
    assert refused.status_code == 401


async def test_a_dpop_bound_token_reads_userinfo_only_with_a_fresh_proof_of_its_key(http, browser, clock):
    at = clock.now().timestamp()  # proofs made at keyplane's time, however slow the machine
    await create_user(http)
    client = await oidc_client(http)
    rp = relying_party(http, client)
    start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI)
    answer = query_of(await sign_in(browser, start["url"]))
    key = DpopKey()
    token_response = await browser.post("/oauth/token", headers={
        **FORM, "DPoP": key.proof("POST", ISSUER + "/oauth/token", iat=at)}, data={
        "grant_type": "authorization_code", "code": answer["code"], "redirect_uri": REDIRECT_URI,
        "code_verifier": start["code_verifier"], "client_id": client["client_id"]})
    assert token_response.status_code == 200, token_response.text
    token = token_response.json()
    assert token["token_type"] == "DPoP" and "id_token" in token
    url = ISSUER + "/oauth/userinfo"
    access = token["access_token"]

    as_bearer = await browser.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert as_bearer.status_code == 401 and as_bearer.headers["www-authenticate"].startswith("DPoP ")
    no_proof = await browser.get("/oauth/userinfo", headers={"Authorization": f"DPoP {access}"})
    assert no_proof.status_code == 401 and "invalid_dpop_proof" in no_proof.headers["www-authenticate"]
    other_key = await browser.get("/oauth/userinfo", headers={
        "Authorization": f"DPoP {access}", "DPoP": DpopKey().proof("GET", url, access_token=access, iat=at)})
    assert other_key.status_code == 401
    other_url = await browser.get("/oauth/userinfo", headers={
        "Authorization": f"DPoP {access}", "DPoP": key.proof("GET", ISSUER + "/oauth/token",
                                                              access_token=access, iat=at)})
    assert other_url.status_code == 401
    proof = key.proof("GET", url, access_token=access, iat=at)
    ok = await browser.get("/oauth/userinfo", headers={"Authorization": f"DPoP {access}", "DPoP": proof})
    assert ok.status_code == 200, ok.text
    replayed = await browser.get("/oauth/userinfo",
                                 headers={"Authorization": f"DPoP {access}", "DPoP": proof})
    assert replayed.status_code == 401


async def test_prompt_none_without_a_session_answers_login_required_at_the_redirect_uri(http, browser):
    await create_user(http)
    client = await oidc_client(http)
    rp = relying_party(http, client)
    start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI, prompt="none")
    response = await browser.get(path_of(start["url"]))
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    answer = query_of(location)
    assert answer["error"] == "login_required" and answer["state"] == start["state"]
    assert answer["iss"] == ISSUER and "code" not in answer


async def test_prompt_none_with_a_session_needs_a_remembered_consent(http, browser):
    await create_user(http)
    client = await oidc_client(http)
    first = await oidc_client(http, name="Other App")
    await logged_in_tokens(http, browser, first)  # logged in, but never asked by `client`
    rp = relying_party(http, client)
    start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI, prompt="none")
    response = await browser.get(path_of(start["url"]))
    answer = query_of(response.headers["location"])
    assert answer["error"] == "consent_required" and answer["state"] == start["state"]

    await logged_in_tokens(http, browser, client)  # approves once
    again = await rp.create_authorization_url(redirect_uri=REDIRECT_URI, prompt="none")
    silent = await browser.get(path_of(again["url"]))
    assert silent.status_code == 302 and "code" in query_of(silent.headers["location"])


async def test_prompt_consent_shows_the_consent_page_even_when_remembered(http, browser):
    await create_user(http)
    client = await oidc_client(http)
    rp, _, _ = await logged_in_tokens(http, browser, client)
    start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI, prompt="consent")
    page = await browser.get(path_of(start["url"]))
    assert page.status_code == 200 and "Allow Photo Printer" in page.text


async def test_prompt_login_asks_for_the_password_again_and_the_new_login_is_in_the_id_token(
        http, browser, clock):
    await create_user(http)
    client = await oidc_client(http)
    _, _, first = await logged_in_tokens(http, browser, client)
    first_claims = unverified(first["id_token"])
    clock.advance(seconds=5)
    rp = relying_party(http, client)
    start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI, prompt="login")
    response = await browser.get(path_of(start["url"]))
    assert response.status_code == 303 and response.headers["location"].startswith("/login?")
    assert "again=1" in response.headers["location"]  # the form, though logged in
    back = await browser.get(await log_in_at(browser, response.headers["location"]))
    assert back.status_code == 302, back.text  # consent remembered: straight to the client
    answer = query_of(back.headers["location"])
    token = await rp.fetch_access_token(redirect_uri=REDIRECT_URI, code=answer["code"],
                                        code_verifier=start["code_verifier"])
    claims = await rp.parse_id_token(token, nonce=start["nonce"])
    assert claims["auth_time"] >= first_claims["auth_time"] + 5
    assert claims["sid"] != first_claims["sid"]  # a new session


async def test_a_session_older_than_max_age_must_log_in_again(http, browser, clock):
    await create_user(http)
    client = await oidc_client(http)
    now = clock.now()
    clock.set(now - timedelta(seconds=600))  # logged in ten minutes ago
    _, _, first = await logged_in_tokens(http, browser, client)
    clock.set(now)
    rp = relying_party(http, client)

    fresh_enough = await rp.create_authorization_url(redirect_uri=REDIRECT_URI, max_age="3600")
    silent = await browser.get(path_of(fresh_enough["url"]))
    assert silent.status_code == 302 and "code" in query_of(silent.headers["location"])

    none = await rp.create_authorization_url(redirect_uri=REDIRECT_URI, max_age="60", prompt="none")
    refused = query_of((await browser.get(path_of(none["url"]))).headers["location"])
    assert refused["error"] == "login_required" and refused["state"] == none["state"]

    start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI, max_age="60")
    response = await browser.get(path_of(start["url"]))
    assert response.status_code == 303 and response.headers["location"].startswith("/login?")
    back = await browser.get(await log_in_at(browser, response.headers["location"]))
    assert back.status_code == 302, back.text
    token = await rp.fetch_access_token(redirect_uri=REDIRECT_URI,
                                        code=query_of(back.headers["location"])["code"],
                                        code_verifier=start["code_verifier"])
    claims = await rp.parse_id_token(token, nonce=start["nonce"])
    assert claims["auth_time"] >= int(now.timestamp())
    assert claims["auth_time"] > unverified(first["id_token"])["auth_time"]


async def test_a_forged_login_stamp_does_not_skip_prompt_login(http, browser):
    await create_user(http)
    client = await oidc_client(http)
    rp, _, _ = await logged_in_tokens(http, browser, client)
    start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI, prompt="login")
    recent = int(datetime.now(UTC).timestamp()) - 60
    for stamp in ("1.00", f"{recent}.{'0' * 64}", "9" * 40 + ".x", "99999999999.x", "", "1.2.3"):
        forged = await browser.get(path_of(start["url"]) + "&kp_login=" + stamp)
        assert forged.status_code == 303 and forged.headers["location"].startswith("/login?"), stamp


async def test_bad_openid_parameters_are_standard_errors_at_the_redirect_uri(http, browser):
    await create_user(http)
    client = await oidc_client(http)
    rp = relying_party(http, client)
    for params in ({"prompt": "none login"}, {"max_age": "soon"}, {"max_age": "-1"},
                   {"nonce": "n" * 600}):
        start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI, **params)
        response = await browser.get(path_of(start["url"]))
        assert response.status_code == 302, (params, response.text)
        answer = query_of(response.headers["location"])
        assert answer["error"] == "invalid_request" and answer["state"] == start["state"], params
    # An unknown prompt value is ignored (Core 1.0 §3.1.2.1 allows it): to the login page.
    unknown = await rp.create_authorization_url(redirect_uri=REDIRECT_URI, prompt="select_account")
    assert (await browser.get(path_of(unknown["url"]))).headers["location"].startswith("/login")


async def test_refreshing_an_openid_grant_returns_a_new_id_token_of_the_same_login(http, browser):
    user = await create_user(http)
    client = await oidc_client(http, grant_types=["authorization_code", "refresh_token"])
    _, _, token = await logged_in_tokens(http, browser, client)
    first = unverified(token["id_token"])
    refreshed = await browser.post("/oauth/token", headers=FORM, data={
        "grant_type": "refresh_token", "refresh_token": token["refresh_token"],
        "client_id": client["client_id"]})
    assert refreshed.status_code == 200, refreshed.text
    claims = unverified(refreshed.json()["id_token"])
    assert claims["sub"] == user["id"] and claims["aud"] == client["client_id"]
    assert claims["auth_time"] == first["auth_time"] and claims["sid"] == first["sid"]
    assert "nonce" not in claims  # Core 1.0 §12.2

    narrowed = await browser.post("/oauth/token", headers=FORM, data={
        "grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"],
        "client_id": client["client_id"], "scope": "profile"})
    assert narrowed.status_code == 200 and "id_token" not in narrowed.json()


async def test_discovery_holds_the_oauth_metadata_and_every_endpoint_answers(http, browser):
    oauth = (await browser.get("/.well-known/oauth-authorization-server")).json()
    oidc = (await browser.get("/.well-known/openid-configuration")).json()
    assert {k: oidc[k] for k in oauth} == oauth  # one source
    assert oidc["issuer"] == ISSUER
    assert oidc["userinfo_endpoint"] == ISSUER + "/oauth/userinfo"
    assert oidc["end_session_endpoint"] == ISSUER + "/oauth/end_session"
    assert oidc["response_types_supported"] == ["code"]
    assert oidc["subject_types_supported"] == ["public"]
    assert oidc["id_token_signing_alg_values_supported"] == ["ES256"]
    assert {"openid", "profile", "email"} <= set(oidc["scopes_supported"])
    assert {"none", "login", "consent"} == set(oidc["prompt_values_supported"])
    assert {"sub", "auth_time", "nonce", "at_hash", "sid", "name", "preferred_username",
            "email", "email_verified"} <= set(oidc["claims_supported"])
    assert oidc["code_challenge_methods_supported"] == ["S256"]
    assert oidc["request_uri_parameter_supported"] is False
    for name, url in oidc.items():
        if name.endswith(("_endpoint", "_uri")) and isinstance(url, str):
            answer = await browser.request("GET", path_of(url))
            assert answer.status_code not in (404, 500), (name, answer.status_code)


async def test_logout_ends_the_session_and_returns_to_the_registered_uri_with_state(http, browser):
    await create_user(http)
    client = await oidc_client(http)
    rp, _, token = await logged_in_tokens(http, browser, client)
    cookie = dict(browser.cookies)
    logout = await rp.create_logout_url(post_logout_redirect_uri=LOGOUT_URI,
                                        id_token_hint=token["id_token"], state="bye-42")
    response = await browser.get(path_of(logout["url"]))
    assert response.status_code == 302, response.text
    assert response.headers["location"] == LOGOUT_URI + "?state=bye-42"

    assert (await browser.get("/login/done")).status_code == 303  # logged out
    start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI, prompt="none")
    silent = await browser.get(path_of(start["url"]))
    assert query_of(silent.headers["location"])["error"] == "login_required"
    # The old cookie names no session any more (ended server-side, not only forgotten).
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver",
                                 cookies=cookie) as replay:
        assert (await replay.get("/login/done")).status_code == 303


async def test_logout_refuses_an_unregistered_post_logout_redirect_uri(http, browser):
    await create_user(http)
    client = await oidc_client(http)
    _, _, token = await logged_in_tokens(http, browser, client)
    for uri in ("https://evil.example/bye", LOGOUT_URI + "/x", REDIRECT_URI):
        response = await browser.get("/oauth/end_session", params={
            "id_token_hint": token["id_token"], "post_logout_redirect_uri": uri, "state": "s"})
        assert response.status_code == 400 and "location" not in response.headers, uri
        assert "not one the application registered" in response.text
    assert (await browser.get("/login/done")).status_code == 200  # still logged in


async def test_logout_without_a_hint_of_this_session_asks_first(http, browser):
    await create_user(http)
    client = await oidc_client(http)
    await logged_in_tokens(http, browser, client)
    params = {"client_id": client["client_id"], "post_logout_redirect_uri": LOGOUT_URI, "state": "st"}
    page = await browser.get("/oauth/end_session", params=params)
    assert page.status_code == 200 and "Sign out?" in page.text
    assert (await browser.get("/login/done")).status_code == 200  # nothing ended yet

    forged = await browser.post("/oauth/end_session", data={**params, "csrf_token": "0" * 64})
    assert forged.status_code == 403
    from_rp = await browser.post("/oauth/end_session", data=params)  # a form post, no CSRF token
    assert from_rp.status_code == 200 and "Sign out?" in from_rp.text
    confirmed = await browser.post("/oauth/end_session", data={**params, "csrf_token": csrf_of(page),
                                                               "confirm": "yes"})
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == LOGOUT_URI + "?state=st"
    assert (await browser.get("/login/done")).status_code == 303


async def test_logout_without_a_redirect_shows_a_signed_out_page(http, browser, clock):
    await create_user(http)
    client = await oidc_client(http)
    _, _, token = await logged_in_tokens(http, browser, client)
    response = await browser.post("/oauth/end_session", data={"id_token_hint": token["id_token"]})
    assert response.status_code == 200 and "Signed out" in response.text
    assert (await browser.get("/login/done")).status_code == 303
    # Nobody logged in: nothing to end; an expired hint is still a hint (§2).
    clock.advance(seconds=3600)
    assert unverified(token["id_token"])["exp"] < clock.now().timestamp()
    again = await browser.get("/oauth/end_session", params={"id_token_hint": token["id_token"],
                                                           "post_logout_redirect_uri": LOGOUT_URI})
    assert again.status_code == 302 and again.headers["location"] == LOGOUT_URI


async def test_bad_logout_requests_are_pages_never_redirects_nor_500s(http, browser):
    await create_user(http)
    client = await oidc_client(http)
    other = await oidc_client(http, name="Other App")
    _, _, token = await logged_in_tokens(http, browser, client)
    forged_hint = token["id_token"][:-4] + ("AAAA" if not token["id_token"].endswith("AAAA") else "BBBB")
    cases = [
        {"id_token_hint": "not a token", "post_logout_redirect_uri": LOGOUT_URI},
        {"id_token_hint": forged_hint, "post_logout_redirect_uri": LOGOUT_URI},
        {"id_token_hint": token["access_token"], "post_logout_redirect_uri": LOGOUT_URI},
        {"id_token_hint": token["id_token"], "client_id": other["client_id"],
         "post_logout_redirect_uri": LOGOUT_URI},
        {"client_id": "cli_nope", "post_logout_redirect_uri": LOGOUT_URI},
        {"post_logout_redirect_uri": LOGOUT_URI},
        {"client_id": client["client_id"], "post_logout_redirect_uri": LOGOUT_URI, "state": "s" * 2000},
        {"id_token_hint": "x" * 9000},
    ]
    for params in cases:
        response = await browser.get("/oauth/end_session", params=params)
        assert response.status_code == 400 and "location" not in response.headers, params
    twice = await browser.get("/oauth/end_session?state=a&state=b")
    assert twice.status_code == 400
    not_a_form = await browser.post("/oauth/end_session", content=b"{}",
                                    headers={"Content-Type": "application/json"})
    assert not_a_form.status_code == 400
    assert (await browser.get("/login/done")).status_code == 200  # none of them logged out


async def test_a_client_registered_without_openid_cannot_ask_for_it(http, browser):
    await create_user(http)
    client = await create_client(http)  # scopes: photos.*, admin.all
    rp = relying_party(http, client)
    start = await rp.create_authorization_url(redirect_uri=REDIRECT_URI)
    response = await browser.get(path_of(start["url"]))
    assert query_of(response.headers["location"])["error"] == "invalid_scope"


async def test_the_access_token_of_an_openid_grant_keeps_its_audience(http, browser):
    await create_user(http)
    client = await oidc_client(http)
    _, _, token = await logged_in_tokens(http, browser, client)
    assert unverified(token["access_token"])["aud"] == AUDIENCE
