"""The dashboard's alerts and webhooks pages over HTTP, on the app's real services: an
alert raised by presenting a revoked key, acknowledged and resolved from its page; a
webhook to a real receiver on 127.0.0.1, its secret shown once, a test event delivered."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from running_app import running_app
from users.browser import create_user, csrf_of, log_in
from webhooks.receiver import Receiver, receiving

from keyplane.config import Settings
from keyplane.services import Services


@pytest.fixture
async def app_services(settings: Settings,
                       root_key: str) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """The app on the system clock (the alert detector and the delivery worker run on it),
    flushing and delivering fast, allowed to reach a receiver on 127.0.0.1."""
    async with running_app(settings.model_copy(update={
            "webhooks_allow_private": True, "webhook_retry_base_seconds": 0.2,
            "webhook_poll_seconds": 0.1, "usage_flush_seconds": 0.2, "webhook_timeout_seconds": 2.0}),
            root_key=root_key) as (client, app):
        yield client, app.state.services


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


async def _admin_browser(http: httpx.AsyncClient, browser: httpx.AsyncClient) -> str:
    await create_user(http, "root", roles=["admin"])
    assert (await log_in(browser, "root", next_path="/dashboard")).status_code == 303
    return str((await http.get("/v1/users")).json()["items"][0]["id"])


async def _post(browser: httpx.AsyncClient, page_path: str, action: str, **fields: str) -> httpx.Response:
    page = await browser.get(page_path)
    assert page.status_code == 200, page.text
    return await browser.post(action, data={"csrf_token": csrf_of(page), **fields})


async def _revoked_key_alert(http: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """Present a revoked key and wait (bounded) for the detector's alert."""
    api = (await http.post("/v1/apis", json={"name": "Photos", "key_prefix": "ph"})).json()
    key = (await http.post("/v1/keys", json={"api_id": api["id"], "name": "backend"})).json()
    assert (await http.post(f"/v1/keys/{key['id']}/revoke")).status_code == 200
    verdict = await http.post("/v1/keys/verify", json={"key": key["key"], "ip": "203.0.113.9"})
    assert verdict.json()["code"] == "REVOKED"
    for _ in range(100):
        alerts = (await http.get("/v1/alerts", params={"type": "key.revoked_used"})).json()["items"]
        if alerts:
            return alerts[0], key
        await asyncio.sleep(0.1)
    raise AssertionError("no key.revoked_used alert within 10 s")


async def test_an_admin_sees_an_alert_and_acknowledges_then_resolves_it(http, browser, services):
    me = await _admin_browser(http, browser)
    alert, key = await _revoked_key_alert(http)
    overview = await browser.get("/dashboard")
    assert re.search(r'<strong id="open-alerts">1</strong>', overview.text)
    listed = await browser.get("/dashboard/alerts")
    assert listed.status_code == 200 and "default-src 'self'" in listed.headers["content-security-policy"]
    assert f'href="/dashboard/alerts/{alert["id"]}"' in listed.text
    assert f'href="/dashboard/keys/{key["id"]}"' in listed.text  # the subject's page
    assert listed.text.count('class="alert-row"') == 1
    assert (await browser.get("/dashboard/alerts", params={"state": "resolved"})).text.count('class="alert-row"') == 0
    assert (await browser.get("/dashboard/alerts", params={"type": "key.leaked"})).text.count('class="alert-row"') == 0

    page_path = f"/dashboard/alerts/{alert['id']}"
    page = await browser.get(page_path)
    assert "203.0.113.9" in page.text and "Acknowledge" in page.text
    refused = await browser.post(f"{page_path}/state", data={"state": "acknowledged"})
    assert refused.status_code == 403
    assert (await http.get(f"/v1/alerts/{alert['id']}")).json()["state"] == "open"

    acked = await _post(browser, page_path, f"{page_path}/state", state="acknowledged")
    assert acked.status_code == 303 and acked.headers["location"].startswith(page_path)
    assert (await http.get(f"/v1/alerts/{alert['id']}")).json()["state"] == "acknowledged"
    bad = await _post(browser, page_path, f"{page_path}/state", state="gone")
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    resolved = await _post(browser, page_path, f"{page_path}/state", state="resolved")
    assert resolved.status_code == 303
    assert (await http.get(f"/v1/alerts/{alert['id']}")).json()["state"] == "resolved"
    after = await browser.get(resolved.headers["location"])
    assert 'data-state="resolved"' in after.text and "Acknowledge" not in after.text
    assert re.search(r'<strong id="open-alerts">0</strong>', (await browser.get("/dashboard")).text)

    await services.audit_writer.flush()
    updates = (await http.get("/v1/audit", params={"action": "alert.update", "actor": me})).json()["items"]
    assert sorted(e["target"] for e in updates) == [alert["id"]] * 2
    assert (await browser.get("/dashboard/alerts/alr_00000000000000000000000000")).status_code == 404
    assert (await browser.get("/dashboard/alerts", params={"cursor": "forged!"})).status_code == 400


async def test_a_user_without_the_admin_role_gets_no_alerts_or_webhooks_page(http, browser):
    await create_user(http, "bob")
    await log_in(browser, "bob")
    for path in ("/dashboard/alerts", "/dashboard/webhooks"):
        assert (await browser.get(path)).status_code == 403
    token = csrf_of(await browser.get("/login/done"))
    refused = await browser.post("/dashboard/webhooks", data={
        "csrf_token": token, "url": "https://example.com/hooks", "events": "*"})
    assert refused.status_code == 403
    assert (await http.get("/v1/webhooks")).json()["items"] == []


async def test_a_webhook_s_secret_is_shown_once_and_a_test_event_is_delivered(http, browser, services, receiver):
    me = await _admin_browser(http, browser)
    refused = await browser.post("/dashboard/webhooks", data={"url": receiver.url, "events": "*"})
    assert refused.status_code == 403
    bad = await _post(browser, "/dashboard/webhooks", "/dashboard/webhooks", url=receiver.url, events="not valid!")
    assert bad.status_code == 422 and 'id="f-events-error"' in bad.text
    assert (await http.get("/v1/webhooks")).json()["items"] == []

    created = await _post(browser, "/dashboard/webhooks", "/dashboard/webhooks", url=receiver.url,
                          events="webhook.test alert.*", description="ops")
    assert created.status_code == 303, created.text
    hook_page = created.headers["location"]
    page = await browser.get(hook_page)
    [secret] = re.findall(r'<code id="shown-secret">([^<]+)</code>', page.text)
    assert secret.startswith("whsec_") and "you will not see this again" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    again = await browser.get(hook_page)
    assert secret not in again.text and "shown-secret" not in again.text
    webhook_id = hook_page.rsplit("/", 1)[1]
    assert webhook_id in (await browser.get("/dashboard/webhooks")).text

    tested = await _post(browser, hook_page, f"{hook_page}/test")
    assert tested.status_code == 303
    await asyncio.to_thread(receiver.wait_for, lambda got: any(
        r.payload.get("type") == "webhook.test" for r in got), 10.0)
    for _ in range(50):
        listed = await browser.get(hook_page)
        if 'data-state="delivered"' in listed.text:
            break
        await asyncio.sleep(0.1)
    assert listed.text.count('class="delivery"') == 1 and "webhook.test" in listed.text
    assert 'data-state="delivered"' in listed.text

    rolled = await _post(browser, hook_page, f"{hook_page}/secret/roll")
    assert rolled.status_code == 303
    [new_secret] = re.findall(r'<code id="shown-secret">([^<]+)</code>', (await browser.get(hook_page)).text)
    assert new_secret != secret and "Previous secret signs until" in (await browser.get(hook_page)).text

    deleted = await _post(browser, hook_page, f"{hook_page}/delete")
    assert deleted.status_code == 303
    assert (await http.get(f"/v1/webhooks/{webhook_id}")).status_code == 404
    await services.audit_writer.flush()
    actions = {e["action"] for e in (await http.get("/v1/audit", params={"actor": me})).json()["items"]}
    assert {"webhook.create", "webhook.secret_roll", "webhook.delete"} <= actions
