"""Pushed authorization requests (RFC 9126): a client pushes its request (authenticating as
at the token endpoint), sends the user with the `request_uri`, which works once and only
for a short while; a client registered for PAR cannot send a plain request."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from grant_harness import Harness, assert_oauth_error, kp, real_time
from users.browser import REDIRECT_URI, create_user, csrf_of, log_in, pkce_pair, query_of

PAR = "/oauth/par"


@pytest.fixture
async def browser(kp):
    async with httpx.AsyncClient(transport=kp.http._transport, base_url="http://testserver") as client:
        await create_user(kp.http)
        await log_in(client, "alice")
        yield client


async def web_client(kp: Harness, **fields):
    return await kp.client(**{"name": "web app", "grant_types": ["authorization_code"],
                              "redirect_uris": [REDIRECT_URI], "scopes": ["photos.read"],
                              **fields})


def request_params(client, challenge: str, **extra: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT_URI,
            "state": "s1", "scope": "photos.read", "code_challenge": challenge,
            "code_challenge_method": "S256", **extra}


async def push(kp: Harness, client, params: dict[str, str]) -> httpx.Response:
    return await kp.post(PAR, params, client)


async def approve(browser: httpx.AsyncClient, query: dict[str, str]) -> httpx.Response:
    consent = await browser.get("/oauth/authorize", params=query)
    assert consent.status_code == 200, consent.text
    return await browser.post("/oauth/authorize", data={
        "csrf_token": csrf_of(consent), "request": urlsplit(str(consent.url)).query,
        "decision": "approve"})


async def test_a_pushed_request_is_used_once_by_reference(kp, browser):
    client = await web_client(kp)
    verifier, challenge = pkce_pair()
    pushed = await push(kp, client, request_params(client, challenge))
    assert pushed.status_code == 201, pushed.text
    body = pushed.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert body["expires_in"] == 60
    reference = {"client_id": client["client_id"], "request_uri": body["request_uri"]}
    redirect = await approve(browser, reference)
    assert redirect.status_code == 303, redirect.text
    answer = query_of(redirect.headers["location"])
    assert answer["state"] == "s1"
    token = await kp.token(client, grant_type="authorization_code", code=answer["code"],
                           redirect_uri=REDIRECT_URI, code_verifier=verifier)
    assert token.status_code == 200, token.text
    # Used: the same request_uri starts nothing again.
    again = await browser.get("/oauth/authorize", params=reference)
    assert again.status_code == 400 and "location" not in again.headers


async def test_a_request_uri_expires_and_belongs_to_its_client(kp, browser, clock):
    client = await web_client(kp)
    other = await web_client(kp, name="other")
    _verifier, challenge = pkce_pair()
    request_uri = (await push(kp, client, request_params(client, challenge))).json()["request_uri"]
    stolen = await browser.get("/oauth/authorize", params={"client_id": other["client_id"],
                                                           "request_uri": request_uri})
    assert stolen.status_code == 400
    clock.advance(seconds=61)
    late = await browser.get("/oauth/authorize", params={"client_id": client["client_id"],
                                                         "request_uri": request_uri})
    assert late.status_code == 400 and "location" not in late.headers


async def test_a_client_registered_for_par_must_push(kp, browser):
    client = await web_client(kp, require_pushed_authorization_requests=True)
    _verifier, challenge = pkce_pair()
    plain = await browser.get("/oauth/authorize", params=request_params(client, challenge))
    assert plain.status_code == 302
    assert query_of(plain.headers["location"])["error"] == "invalid_request"
    pushed = await push(kp, client, request_params(client, challenge))
    reference = {"client_id": client["client_id"], "request_uri": pushed.json()["request_uri"]}
    assert (await approve(browser, reference)).status_code == 303


async def test_bad_pushes_get_the_standard_errors(kp):
    client = await web_client(kp)
    other = await web_client(kp, name="other")
    _verifier, challenge = pkce_pair()
    good = request_params(client, challenge)
    anonymous = await kp.http.post(PAR, data=good, headers={
        "Authorization": "", "Content-Type": "application/x-www-form-urlencoded"})
    assert_oauth_error(anonymous, 401, "invalid_client")
    for params, error in (
            ({**good, "redirect_uri": "https://evil.example/cb"}, "invalid_request"),
            ({**good, "scope": "admin"}, "invalid_scope"),
            ({**good, "response_type": "token"}, "unsupported_response_type"),
            ({**good, "request_uri": "urn:ietf:params:oauth:request_uri:x"}, "invalid_request"),
            ({**good, "client_id": other["client_id"]}, "invalid_request"),
            ({**good, "code_challenge_method": "plain"}, "invalid_request")):
        assert_oauth_error(await push(kp, client, params), 400, error)
    discovery = (await kp.http.get("/.well-known/oauth-authorization-server")).json()
    assert discovery["pushed_authorization_request_endpoint"].endswith(PAR)
