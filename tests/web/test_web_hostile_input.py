"""Pages and the authorization endpoint under hostile input: clear 4xx pages or error
redirects, never a 500; and the cookie's security attributes outside localhost."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager

from keyplane.app import create_app
from users.browser import (
    REDIRECT_URI,
    create_client,
    create_user,
    csrf_of,
    log_in,
    pkce_pair,
    query_of,
)


@pytest.mark.parametrize("query", [
    "%ff%fe=1", "client_id=cli_%00", "client_id=" + "x" * 5000, "client_id=a&client_id=b",
    "response_type=code&" + "&".join(f"p{i}=1" for i in range(40)), "redirect_uri=%0d%0a",
    "a=%zz", "=&&&=", "client_id=%ED%A0%80",
])
async def test_an_unreadable_authorization_request_is_an_error_page(browser, query):
    response = await browser.get("/oauth/authorize?" + query)
    assert response.status_code == 400 and "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


async def test_state_comes_back_exactly_as_sent(http, browser):
    await create_user(http)
    client = await create_client(http)
    _, challenge = pkce_pair()
    await log_in(browser)
    state = "a b&c=d/é?#%"
    response = await browser.get("/oauth/authorize", params={
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT_URI,
        "state": state, "code_challenge": challenge, "code_challenge_method": "S256"})
    assert response.status_code == 200
    approved = await browser.post("/oauth/authorize", data={
        "csrf_token": csrf_of(response), "request": response.url.query.decode(), "decision": "approve"})
    assert query_of(approved.headers["location"])["state"] == state


async def test_a_repeated_parameter_is_invalid_request_at_the_redirect_uri(http, browser):
    client = await create_client(http)
    _, challenge = pkce_pair()
    response = await browser.get(
        f"/oauth/authorize?response_type=code&client_id={client['client_id']}&redirect_uri={REDIRECT_URI}"
        f"&code_challenge={challenge}&code_challenge_method=S256&scope=photos.read&scope=photos.write")
    assert response.status_code == 302
    assert query_of(response.headers["location"])["error"] == "invalid_request"


@pytest.mark.parametrize("body", [b"x" * 20_000, b"username=a&username=b", b"%ff=1"])
async def test_a_hostile_login_form_is_a_400_page(browser, body):
    await browser.get("/login")
    response = await browser.post("/login", content=body, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400 and response.headers["content-type"].startswith("text/html")


async def test_an_absurd_username_or_password_is_just_a_failed_login(http, browser):
    for username, password in (("x" * 5000, "y"), ("\u202e", "p" * 2000), ("", "")):
        response = await log_in(browser, username, password)
        assert response.status_code == 401


async def test_outside_localhost_the_cookie_is_secure_with_the_host_prefix(settings, clock):
    app = create_app(settings.model_copy(update={"issuer": "https://auth.example.com"}), clock=clock)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://auth.example.com") as browser:
            page = await browser.get("/login")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-kp_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
    assert "samesite=lax" in cookie.lower() and "Domain" not in cookie
