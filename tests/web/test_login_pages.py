"""The login and logout pages, driven as a browser would: cookies, forms, CSRF tokens."""

from __future__ import annotations

import json

import httpx

import pytest

from users.browser import PASSWORD, create_user, csrf_of, log_in


async def test_the_login_page_is_a_strict_accessible_form(browser):
    page = await browser.get("/login")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script" not in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert '<label for="username">' in page.text and '<label for="password">' in page.text
    assert 'name="viewport"' in page.text and "http" not in page.text.split("<body>")[1].replace(
        'action="/login"', "")  # no external asset or link
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # the issuer is http://127.0.0.1: a developer's machine


async def test_a_user_logs_in_is_sent_to_next_and_logs_out(http, browser):
    await create_user(http, "Alice")
    response = await log_in(browser, "alice", next_path="/login/done")
    assert response.status_code == 303 and response.headers["location"] == "/login/done"
    done = await browser.get("/login/done")
    assert done.status_code == 200 and "Alice" in done.text
    logout = await browser.post("/logout", data={"csrf_token": csrf_of(done)})
    assert logout.status_code == 200 and "logged out" in logout.text.lower()
    assert (await browser.get("/login/done")).status_code == 303


async def test_login_replaces_the_session_id_so_a_planted_one_is_worthless(http, browser):
    await create_user(http)
    before = (await browser.get("/login")).cookies.get("kp_session")
    await log_in(browser)
    after = browser.cookies.get("kp_session")
    assert before and after and before != after


@pytest.mark.parametrize("token", [None, "", "0" * 64, "not-a-token"])
async def test_a_login_without_the_sessions_csrf_token_is_refused(http, browser, token):
    await create_user(http)
    await browser.get("/login")
    form = {"username": "alice", "password": PASSWORD}
    if token is not None:
        form["csrf_token"] = token
    response = await browser.post("/login", data=form)
    assert response.status_code == 403 and "kp_session" not in response.headers.get("set-cookie", "")
    assert (await browser.get("/login/done")).status_code == 303


async def test_a_csrf_token_of_another_browser_session_is_refused(http, browser):
    await create_user(http)
    other = csrf_of(await browser.get("/login"))
    browser.cookies.clear()
    await browser.get("/login")  # a new anonymous session
    response = await browser.post("/login", data={"csrf_token": other, "username": "alice",
                                                  "password": PASSWORD})
    assert response.status_code == 403


async def test_wrong_passwords_unknown_users_and_disabled_users_get_one_answer(http, browser, services):
    user = await create_user(http)
    bob = await create_user(http, "bob")
    await http.patch(f"/v1/users/{bob['id']}", json={"disabled": True})
    for username, password in (("alice", "wrong password!"), ("nobody", PASSWORD), ("bob", PASSWORD)):
        response = await log_in(browser, username, password)
        assert response.status_code == 401 and "Wrong username or password" in response.text
    await services.audit_writer.flush()  # login failures are written in batches
    events = (await http.get("/v1/audit", params={"action": "user.login_failure"})).json()["items"]
    assert sorted(e["details"]["reason"] for e in events) == ["bad_password", "disabled", "unknown_user"]
    assert "wrong password!" not in json.dumps(events) and PASSWORD not in json.dumps(events)
    assert (await log_in(browser)).status_code == 303
    logins = (await http.get("/v1/audit", params={"action": "user.login", "target": user["id"]})).json()
    assert len(logins["items"]) == 1


async def test_disabling_a_user_ends_their_session(http, browser):
    user = await create_user(http)
    await log_in(browser)
    assert (await browser.get("/login/done")).status_code == 200
    await http.patch(f"/v1/users/{user['id']}", json={"disabled": True})
    assert (await browser.get("/login/done")).status_code == 303
    await http.patch(f"/v1/users/{user['id']}", json={"disabled": False})
    assert (await log_in(browser)).status_code == 303


async def test_logins_are_throttled_per_account_and_network(http, browser, services):
    await create_user(http)
    for _ in range(5):
        assert (await log_in(browser, password="wrong password!")).status_code == 401
    response = await log_in(browser)  # even the right password: throttled from this network
    assert response.status_code == 429 and "Too many attempts" in response.text
    await services.audit_writer.flush()
    events = (await http.get("/v1/audit", params={"action": "user.login_throttled"})).json()["items"]
    assert events


async def test_logins_are_throttled_per_network(http, browser):
    for i in range(50):
        assert (await log_in(browser, f"user{i}", "wrong password!")).status_code == 401
    assert (await log_in(browser, "someone-else", "wrong password!")).status_code == 429


async def test_throttled_attempts_come_back_after_the_window(http, browser, clock):
    await create_user(http)
    for _ in range(5):
        await log_in(browser, password="wrong password!")
    assert (await log_in(browser)).status_code == 429
    clock.advance(seconds=900)
    assert (await log_in(browser)).status_code == 303


async def test_a_stranger_failing_logins_does_not_lock_the_owner_out(http, browser, clock):
    await create_user(http)
    transport = httpx.ASGITransport(app=http._transport.app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as stranger:
        answers = []
        for _ in range(30):
            answers.append((await log_in(stranger, password="wrong password!")).status_code)
            clock.advance(seconds=1)
        assert answers[:5] == [401] * 5 and 429 in answers
        # An account that does not exist is throttled alike: nothing to enumerate.
        for _ in range(5):
            assert (await log_in(stranger, "nobody-at-all", "wrong password!")).status_code == 401
        unknown = await log_in(stranger, "nobody-at-all", "wrong password!")
        throttled = await log_in(stranger, password="wrong password!")
        assert unknown.status_code == throttled.status_code == 429
        assert "Too many attempts" in unknown.text and "Too many attempts" in throttled.text
    assert (await log_in(browser)).status_code == 303  # the owner, from their own network


@pytest.mark.parametrize("next_path", ["https://evil.example/", "//evil.example/x", "/\\evil.example",
                                       "http:/x", "javascript:alert(1)", "/ok\r\nX: y", "evil"])
async def test_next_is_never_an_open_redirect(http, browser, next_path):
    await create_user(http)
    response = await log_in(browser, next_path=next_path)
    assert response.status_code == 303 and response.headers["location"] == "/login/done"


async def test_sessions_end_when_idle_and_after_their_absolute_lifetime(http, browser, clock):
    await create_user(http)
    await log_in(browser)
    clock.advance(seconds=1799)
    assert (await browser.get("/login/done")).status_code == 200
    clock.advance(seconds=1799)  # idle clock restarted by the last request
    assert (await browser.get("/login/done")).status_code == 200
    clock.advance(seconds=1800)
    assert (await browser.get("/login/done")).status_code == 303

    await log_in(browser)
    for _ in range(30):  # 1790 s steps: idle never ends it, 12 h do
        clock.advance(seconds=1790)
        if (await browser.get("/login/done")).status_code != 200:
            break
    else:
        pytest.fail("the session outlived its absolute lifetime")
    # 12 h after login, whatever the activity
    assert (await browser.get("/login/done")).status_code == 303


async def test_a_malformed_form_is_a_clear_400_page(browser):
    await browser.get("/login")
    response = await browser.post("/login", content=b"\xff\xfe", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    response = await browser.post("/login", json={"username": "x"})
    assert response.status_code == 400
