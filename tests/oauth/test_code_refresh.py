"""Refresh tokens from the authorization_code grant: issued when the client may refresh,
rotated, and revoked with their family when the code that started it is replayed."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from grant_harness import Harness, assert_oauth_error, kp
from users.browser import (
    REDIRECT_URI,
    create_client,
    create_user,
    csrf_of,
    log_in,
    pkce_pair,
    query_of,
)


@pytest.fixture
async def browser(kp):
    async with httpx.AsyncClient(transport=kp.http._transport, base_url="http://testserver") as client:
        yield client


async def code_of(kp: Harness, browser, client):
    """Consent (logged in already): the code and its verifier."""
    verifier, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT_URI,
              "state": "s", "scope": "photos.read", "code_challenge": challenge,
              "code_challenge_method": "S256"}
    consent = await browser.get("/oauth/authorize", params=params)
    assert consent.status_code == 200, consent.text
    redirect = await browser.post("/oauth/authorize", data={
        "csrf_token": csrf_of(consent), "request": urlsplit(str(consent.url)).query,
        "decision": "approve"})
    assert redirect.status_code == 303, redirect.text  # the consent form's POST answered with a GET
    return query_of(redirect.headers["location"])["code"], verifier


async def exchange(kp: Harness, client, code, verifier):
    return await kp.token(client, grant_type="authorization_code", code=code,
                          redirect_uri=REDIRECT_URI, code_verifier=verifier)


async def test_a_code_brings_a_refresh_token_only_when_the_client_may_refresh(kp, browser):
    user = await create_user(kp.http)
    await log_in(browser, "alice")
    plain = await create_client(kp.http)
    code, verifier = await code_of(kp, browser, plain)
    assert "refresh_token" not in (await exchange(kp, plain, code, verifier)).json()

    refreshing = await create_client(kp.http, grant_types=["authorization_code", "refresh_token"])
    code, verifier = await code_of(kp, browser, refreshing)
    tokens = (await exchange(kp, refreshing, code, verifier)).json()
    assert tokens["refresh_token"].startswith("kp_rt_")
    rotated = await kp.refresh(refreshing, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    info = await kp.introspect(rotated.json()["access_token"])
    assert info["sub"] == user["id"] and info["scope"] == "photos.read"


async def test_a_replayed_code_revokes_the_refresh_family_it_started(kp, browser):
    await create_user(kp.http)
    await log_in(browser, "alice")
    client = await create_client(kp.http, grant_types=["authorization_code", "refresh_token"])
    code, verifier = await code_of(kp, browser, client)
    tokens = (await exchange(kp, client, code, verifier)).json()
    rotated = (await kp.refresh(client, tokens["refresh_token"])).json()
    assert (await kp.introspect(rotated["access_token"]))["active"]

    assert_oauth_error(await exchange(kp, client, code, verifier), 400, "invalid_grant")
    # Everything the code led to is revoked: the first access token (by the code's own
    # record), the refresh family, and the access token a rotation brought.
    assert await kp.introspect(tokens["access_token"]) == {"active": False}
    assert await kp.introspect(rotated["access_token"]) == {"active": False}
    assert_oauth_error(await kp.refresh(client, rotated["refresh_token"]), 400, "invalid_grant")
    events = (await kp.http.get("/v1/audit", params={"action": "refresh_family.revoke"})).json()["items"]
    assert [e["details"]["reason"] for e in events] == ["code_reuse"]


async def test_withdrawing_a_consent_revokes_what_the_client_holds_for_that_user(kp, browser):
    user = await create_user(kp.http)
    await log_in(browser, "alice")
    client = await create_client(kp.http, grant_types=["authorization_code", "refresh_token"])
    other = await create_client(kp.http, grant_types=["authorization_code", "refresh_token"])
    held = []
    for c in (client, other):
        code, verifier = await code_of(kp, browser, c)
        held.append((c, (await exchange(kp, c, code, verifier)).json()))
    # A second family of the first client: its consent is remembered, no page this time.
    verifier, challenge = pkce_pair()
    again = await browser.get("/oauth/authorize", params={
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT_URI,
        "state": "s", "scope": "photos.read", "code_challenge": challenge,
        "code_challenge_method": "S256"})
    assert again.status_code == 302, again.text  # a GET of the authorization endpoint
    code = query_of(again.headers["location"])["code"]
    held.insert(1, (client, (await exchange(kp, client, code, verifier)).json()))
    rotated = (await kp.refresh(client, held[0][1]["refresh_token"])).json()

    withdrawn = await kp.http.delete(f"/v1/users/{user['id']}/consents/{client['client_id']}")
    assert withdrawn.status_code == 204, withdrawn.text
    for token in (rotated["access_token"], held[1][1]["access_token"]):
        assert await kp.introspect(token) == {"active": False}
    for refresh_token in (rotated["refresh_token"], held[1][1]["refresh_token"]):
        assert_oauth_error(await kp.refresh(client, refresh_token), 400, "invalid_grant")
    # The other client's grant, and the consent list without the withdrawn one.
    assert (await kp.introspect(held[2][1]["access_token"]))["active"]
    assert (await kp.refresh(other, held[2][1]["refresh_token"])).status_code == 200
    consents = (await kp.http.get(f"/v1/users/{user['id']}/consents")).json()["items"]
    assert [c["client_id"] for c in consents] == [other["client_id"]]
    events = (await kp.http.get("/v1/audit", params={"action": "refresh_family.revoke"})).json()["items"]
    assert sorted(e["details"]["reason"] for e in events) == ["consent_withdrawn"] * 2
