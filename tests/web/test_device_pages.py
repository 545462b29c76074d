"""The device flow end to end over HTTP, as a device and a browser do it: device
authorization, polling, the user logging in and approving (or denying) on the pages with
their CSRF tokens, and the device getting its tokens."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from oauth.grant_harness import DEVICE_GRANT, Harness, assert_oauth_error, harness
from users.browser import create_user, csrf_of, log_in


@pytest.fixture
async def kp(settings, clock, root_key):
    tuned = settings.model_copy(update={"device_user_code_attempts": 4})
    async for h in harness(tuned, clock, root_key):
        yield h


@pytest.fixture
async def browser(kp):
    async with httpx.AsyncClient(transport=kp.http._transport, base_url="http://testserver") as client:
        yield client


async def start(kp: Harness, client, scope="documents.read"):
    response = await kp.post("/oauth/device_authorization", {"scope": scope}, client)
    assert response.status_code == 200, response.text
    return response.json()


async def poll(kp: Harness, client, device_code):
    return await kp.token(client, grant_type=DEVICE_GRANT, device_code=device_code)


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def enter_code(browser: httpx.AsyncClient, verification_uri_complete: str, typed: str | None = None):
    """Open the complete verification URI (logged in), confirm the code; the decision page."""
    form_page = await browser.get(local(verification_uri_complete))
    assert form_page.status_code == 200, form_page.text
    code = typed
    if code is None:
        code = verification_uri_complete.rsplit("user_code=", 1)[1]
        assert f'value="{code}"' in form_page.text  # prefilled: the user only confirms
    return await browser.post("/device", data={"csrf_token": csrf_of(form_page), "user_code": code})


async def test_a_user_logs_in_and_approves_and_the_device_gets_its_tokens(kp, browser):
    user = await create_user(kp.http, "alice")
    client = await kp.client(name="Living-room TV")
    started = await start(kp, client)
    assert_oauth_error(await poll(kp, client, started["device_code"]), 400, "authorization_pending")
    kp.clock.advance(seconds=1)
    assert_oauth_error(await poll(kp, client, started["device_code"]), 400, "slow_down")

    # Not logged in: the page sends the browser to log in and come back.
    path = local(started["verification_uri_complete"])
    first = await browser.get(path)
    assert first.status_code == 303
    assert first.headers["location"].startswith("/login?next=")
    logged_in = await log_in(browser, "alice", next_path=path)
    assert logged_in.status_code == 303 and logged_in.headers["location"] == path

    decision = await enter_code(browser, started["verification_uri_complete"])
    assert decision.status_code == 200, decision.text
    assert "Living-room TV" in decision.text and "See your documents" in decision.text
    # The decision without the CSRF token is refused, and decides nothing.
    request_id = decision.text.split('name="request" value="', 1)[1].split('"', 1)[0]
    forged = await browser.post("/device/decision", data={"request": request_id, "decision": "approve"})
    assert forged.status_code == 403
    kp.clock.advance(seconds=10)
    assert_oauth_error(await poll(kp, client, started["device_code"]), 400, "authorization_pending")

    approved = await browser.post("/device/decision", data={
        "csrf_token": csrf_of(decision), "request": request_id, "decision": "approve"})
    assert approved.status_code == 200 and "Device connected" in approved.text
    kp.clock.advance(seconds=10)
    tokens = await poll(kp, client, started["device_code"])
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["scope"] == "documents.read" and body["refresh_token"]
    info = await kp.introspect(body["access_token"])
    assert info["active"] and info["sub"] == user["id"] and info["client_id"] == client["client_id"]
    # Answered: the same decision cannot be posted again.
    again = await browser.post("/device/decision", data={
        "csrf_token": csrf_of(decision), "request": request_id, "decision": "deny"})
    assert again.status_code == 410


async def test_a_user_denies_and_the_device_is_told_access_denied(kp, browser):
    await create_user(kp.http, "alice")
    client = await kp.client()
    started = await start(kp, client)
    await log_in(browser, "alice")
    decision = await enter_code(browser, started["verification_uri"], typed=started["user_code"].lower())
    assert decision.status_code == 200, decision.text
    request_id = decision.text.split('name="request" value="', 1)[1].split('"', 1)[0]
    denied = await browser.post("/device/decision", data={
        "csrf_token": csrf_of(decision), "request": request_id, "decision": "deny"})
    assert denied.status_code == 200 and "denied" in denied.text
    assert_oauth_error(await poll(kp, client, started["device_code"]), 400, "access_denied")


async def test_the_code_form_needs_its_csrf_token(kp, browser):
    await create_user(kp.http, "alice")
    client = await kp.client()
    started = await start(kp, client)
    await log_in(browser, "alice")
    response = await browser.post("/device", data={"user_code": started["user_code"]})
    assert response.status_code == 403


async def test_wrong_codes_are_rate_limited_on_the_page(kp, browser):
    await create_user(kp.http, "mallory")
    client = await kp.client()
    started = await start(kp, client)
    await log_in(browser, "mallory")
    for guess in ("BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD", "FFFF-FFFF"):
        wrong = await enter_code(browser, started["verification_uri"], typed=guess)
        assert wrong.status_code == 400 and "not valid" in wrong.text
    limited = await enter_code(browser, started["verification_uri"], typed=started["user_code"])
    assert limited.status_code == 429 and "Too many" in limited.text
    kp.clock.advance(seconds=61)
    assert (await enter_code(browser, started["verification_uri"], typed=started["user_code"])).status_code == 200


async def test_scopes_a_role_restricts_are_not_granted_to_a_user_without_it(kp, browser):
    role = await kp.http.put("/v1/roles/editors", json={"scopes": ["documents.write"]})
    assert role.status_code == 200, role.text
    await create_user(kp.http, "alice")
    client = await kp.client()
    started = await start(kp, client, scope="documents.read documents.write")
    await log_in(browser, "alice")
    decision = await enter_code(browser, started["verification_uri_complete"])
    assert "Not available to you" in decision.text
    request_id = decision.text.split('name="request" value="', 1)[1].split('"', 1)[0]
    await browser.post("/device/decision", data={
        "csrf_token": csrf_of(decision), "request": request_id, "decision": "approve"})
    tokens = (await poll(kp, client, started["device_code"])).json()
    assert tokens["scope"] == "documents.read"


@pytest.mark.parametrize("user_code", ["", "x" * 5000, "\u0000", "ÄÖÜ-ßßßß", "<script>", "%ff", "BCDF-GHJK" * 4])
async def test_hostile_codes_get_a_page_never_a_500(kp, browser, user_code):
    await create_user(kp.http, "alice")
    await log_in(browser, "alice")
    shown = await browser.get("/device", params={"user_code": user_code})
    assert shown.status_code == 200 and "<script>" not in shown.text
    posted = await browser.post("/device", data={"csrf_token": csrf_of(shown), "user_code": user_code})
    assert posted.status_code == 400 and "not valid" in posted.text and "<script>" not in posted.text


@pytest.mark.parametrize(("form", "status"), [
    ({"request": "dva_nothing", "decision": "approve"}, 400),  # not an id: the form is broken
    ({"request": "dva_00000000000000000000000000", "decision": "approve"}, 410),  # no such request (any more)
    ({"request": "dva_00000000000000000000000000", "decision": "maybe"}, 400),
    ({"request": "", "decision": ""}, 400),
])
async def test_hostile_decisions_get_a_page_never_a_500(kp, browser, form, status):
    await create_user(kp.http, "alice")
    await log_in(browser, "alice")
    page = await browser.get("/device")
    answer = await browser.post("/device/decision", data={"csrf_token": csrf_of(page), **form})
    assert answer.status_code == status, answer.text


async def test_unreadable_forms_get_a_page_never_a_500(kp, browser):
    await create_user(kp.http, "alice")
    await log_in(browser, "alice")
    for path in ("/device", "/device/decision"):
        for body, headers in ((b"\xff\xfe", {"Content-Type": "application/x-www-form-urlencoded"}),
                              (b"{}", {"Content-Type": "application/json"}),
                              (b"a=1&a=2", {"Content-Type": "application/x-www-form-urlencoded"})):
            answer = await browser.post(path, content=body, headers=headers)
            # the form is read before its CSRF token is looked at: unreadable is a 400
            assert answer.status_code == 400, (path, body, answer.status_code)
            assert "Cannot read the form" in answer.text
