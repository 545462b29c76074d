"""A reused refresh token reaches webhooks as `alert.refresh_token.reuse`; the private-address
guard refuses targets inside the network; alerts are acknowledged and resolved."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from oauth.grant_harness import harness
from standardwebhooks import Webhook as StandardWebhook
from webhooks.receiver import Receiver

from keyplane.clock import FakeClock
from keyplane.config import Settings


async def test_a_reused_refresh_token_is_delivered_as_an_alert(
        hook_settings: Settings, clock: FakeClock, root_key: str, receiver: Receiver) -> None:
    clock.set(datetime.now(UTC))  # receivers check `webhook-timestamp` against their own clock
    async for kp in harness(hook_settings, clock, root_key):
        hook = (await kp.http.post("/v1/webhooks", json={"url": receiver.url,
                                                         "events": ["alert.refresh_token.*"]})).json()
        client = await kp.client()
        _access, first = await kp.start_grant(client)
        assert (await kp.refresh(client, first)).status_code == 200
        clock.advance(seconds=6)  # past the grace of a concurrent use
        assert (await kp.refresh(client, first)).status_code == 400
        got = await asyncio.to_thread(receiver.wait_for, lambda got: len(got) >= 1, 5.0)
        payload = StandardWebhook(hook["secret"]).verify(got[0].body, got[0].headers)
        assert payload["type"] == "alert.refresh_token.reuse"
        alert = payload["data"]
        assert alert["subject"] == {"kind": "client", "id": client["client_id"]}
        assert alert["details"]["subject"] == "usr_alice" and alert["severity"] == "critical"
        assert [r.payload["type"] for r in receiver.received] == ["alert.refresh_token.reuse"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/", "http://192.168.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[fd00:ec2::254]/",
    "http://[::ffff:10.0.0.1]/", "http://100.64.0.1/", "http://0.0.0.0/",
    "ftp://example.com/", "http://user:pw@example.com/", "not a url",
])
async def test_private_and_malformed_targets_are_refused(http: httpx.AsyncClient, url: str) -> None:
    response = await http.post("/v1/webhooks", json={"url": url, "events": ["*"]})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "url"
    assert (await http.get("/v1/webhooks")).json()["items"] == []


async def test_webhook_crud_shows_the_secret_once(app_client: httpx.AsyncClient, receiver: Receiver) -> None:
    created = await app_client.post("/v1/webhooks", json={
        "url": receiver.url, "events": ["alert.*", "key.revoke", "alert.*"], "description": "pager"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) >= 6 + 32
    assert body["events"] == ["alert.*", "key.revoke"]
    got = (await app_client.get(f"/v1/webhooks/{body['id']}")).json()
    assert "secret" not in got and got["description"] == "pager"
    patched = await app_client.patch(f"/v1/webhooks/{body['id']}", json={"events": ["*"]})
    assert patched.status_code == 200 and patched.json()["events"] == ["*"]
    bad = await app_client.patch(f"/v1/webhooks/{body['id']}", json={"events": ["alert.**"]})
    assert bad.status_code == 422
    assert (await app_client.delete(f"/v1/webhooks/{body['id']}")).status_code == 204
    assert (await app_client.get(f"/v1/webhooks/{body['id']}")).status_code == 404
    assert (await app_client.get("/v1/webhooks/whk_nope")).status_code == 404


async def test_alerts_filter_acknowledge_and_resolve(app_client: httpx.AsyncClient) -> None:
    api = (await app_client.post("/v1/apis", json={"name": "a", "key_prefix": "sk_a"})).json()
    key = (await app_client.post("/v1/keys", json={"api_id": api["id"]})).json()
    await app_client.post(f"/v1/keys/{key['id']}/revoke")
    alert: dict[str, Any] = {}
    for _ in range(3):
        await app_client.post("/v1/keys/verify", json={"key": key["key"]})
        await asyncio.sleep(0.3)
    for _ in range(50):
        items = (await app_client.get("/v1/alerts", params={"state": "open"})).json()["items"]
        if items and items[0]["count"] >= 3:
            alert = items[0]
            break
        await asyncio.sleep(0.1)
    assert alert["type"] == "key.revoked_used" and alert["count"] == 3
    assert alert["first_seen"] < alert["last_seen"]
    acked = await app_client.patch(f"/v1/alerts/{alert['id']}", json={"state": "acknowledged"})
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    # A repeat bumps the acknowledged alert instead of opening another.
    await app_client.post("/v1/keys/verify", json={"key": key["key"]})
    for _ in range(50):
        got = (await app_client.get(f"/v1/alerts/{alert['id']}")).json()
        if got["count"] == 4:
            break
        await asyncio.sleep(0.1)
    assert got["count"] == 4 and got["state"] == "acknowledged"
    assert (await app_client.patch(f"/v1/alerts/{alert['id']}", json={"state": "resolved"})).status_code == 200
    await app_client.post("/v1/keys/verify", json={"key": key["key"]})
    for _ in range(50):
        items = (await app_client.get("/v1/alerts", params={"type": "key.revoked_used"})).json()["items"]
        if len(items) == 2:
            break
        await asyncio.sleep(0.1)
    assert [(a["state"], a["count"]) for a in items] == [("open", 1), ("resolved", 4)]
    # Reopening the resolved one beside the open one is a conflict.
    assert (await app_client.patch(f"/v1/alerts/{alert['id']}", json={"state": "open"})).status_code == 409
    assert (await app_client.get("/v1/alerts", params={"state": "nope"})).status_code == 400
    assert (await app_client.patch(f"/v1/alerts/{alert['id']}", json={"state": "nope"})).status_code == 422
    assert (await app_client.get("/v1/alerts/alr_nope")).status_code == 404
    page = (await app_client.get("/v1/alerts", params={"limit": 1})).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
