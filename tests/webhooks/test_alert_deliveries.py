"""Alerts reach a real receiver as Standard Webhooks deliveries, verified with the
`standardwebhooks` package."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from running_app import running_app
from standardwebhooks import Webhook as StandardWebhook
from webhooks.receiver import Received, Receiver

from keyplane.config import Settings


def verified(secret: str, item: Received) -> dict[str, Any]:
    payload = StandardWebhook(secret).verify(item.body, item.headers)
    assert isinstance(payload, dict)
    return payload


async def wait_for_type(receiver: Receiver, event_type: str, timeout: float = 5.0) -> Received:
    await asyncio.to_thread(receiver.wait_for, lambda got: any(
        r.payload.get("type") == event_type for r in got), timeout)
    return receiver.of_type(event_type)[0]


async def new_key(client: httpx.AsyncClient) -> dict[str, Any]:
    api = (await client.post("/v1/apis", json={"name": "docs", "key_prefix": "sk_test"})).json()
    response = await client.post("/v1/keys", json={"api_id": api["id"]})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_revoked_key_presented_is_delivered_signed_within_five_seconds(
        app_client: httpx.AsyncClient, receiver: Receiver, subscribed: dict[str, Any]) -> None:
    key = await new_key(app_client)
    assert (await app_client.post(f"/v1/keys/{key['id']}/revoke")).status_code == 200
    started = time.monotonic()
    verdict = await app_client.post("/v1/keys/verify", json={"key": key["key"], "ip": "203.0.113.9"})
    assert verdict.json()["code"] == "REVOKED"
    item = await wait_for_type(receiver, "alert.key.revoked_used", timeout=5.0)
    assert item.at - started < 5.0
    payload = verified(subscribed["secret"], item)
    alert = payload["data"]
    assert alert["type"] == "key.revoked_used" and alert["severity"] == "critical"
    assert alert["subject"] == {"kind": "key", "id": key["id"]}
    assert alert["details"]["ips"] == ["203.0.113.9"]
    listed = (await app_client.get("/v1/alerts", params={"type": "key.revoked_used"})).json()["items"]
    assert [a["id"] for a in listed] == [alert["id"]]
    # The revocation itself is an audit event, delivered under its own name.
    revoke = await wait_for_type(receiver, "key.revoke")
    assert verified(subscribed["secret"], revoke)["data"]["target"] == key["id"]


async def test_fifty_unknown_keys_from_one_address_open_one_enumeration_alert(
        app_client: httpx.AsyncClient, receiver: Receiver, subscribed: dict[str, Any]) -> None:
    for i in range(50):
        await app_client.post("/v1/keys/verify", json={"key": f"sk_test_nothing{i:04d}xxxxxxxxxxxxxxxxxxx",
                                                             "ip": "203.0.113.7"})
    item = await wait_for_type(receiver, "alert.key.enumeration")
    assert verified(subscribed["secret"], item)["data"]["subject"] == {"kind": "ip", "id": "203.0.113.7"}
    for _ in range(50):
        alerts = (await app_client.get("/v1/alerts", params={"type": "key.enumeration"})).json()["items"]
        if alerts and alerts[0]["count"] >= 50:
            break
        await asyncio.sleep(0.1)
    assert len(alerts) == 1 and alerts[0]["count"] >= 50, alerts
    assert len(receiver.of_type("alert.key.enumeration")) == 1


async def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt_with_one_id(
        app_client: httpx.AsyncClient, receiver: Receiver, subscribed: dict[str, Any]) -> None:
    await wait_for_type(receiver, "webhook.create")  # its own audit event, answered 200
    receiver.statuses = [500, 500]
    response = await app_client.post(f"/v1/webhooks/{subscribed['id']}/test")
    assert response.status_code == 202
    event_id = response.json()["event_id"]
    got = await asyncio.to_thread(receiver.wait_for, lambda got: len(
        [r for r in got if r.headers["webhook-id"] == event_id]) >= 3, 10.0)
    attempts = [r for r in got if r.headers["webhook-id"] == event_id]
    assert len(attempts) == 3
    for item in attempts:
        assert verified(subscribed["secret"], item)["type"] == "webhook.test"
    for _ in range(50):
        deliveries = (await app_client.get(f"/v1/webhooks/{subscribed['id']}/deliveries")).json()["items"]
        [test] = [d for d in deliveries if d["event_id"] == event_id]
        if test["state"] == "delivered":
            break
        await asyncio.sleep(0.1)
    assert test["state"] == "delivered" and test["attempts"] == 3 and test["last_status"] == 200


async def test_a_rolled_secret_signs_beside_the_old_one(
        app_client: httpx.AsyncClient, receiver: Receiver, subscribed: dict[str, Any]) -> None:
    rolled = await app_client.post(f"/v1/webhooks/{subscribed['id']}/secret/roll")
    assert rolled.status_code == 200, rolled.text
    new_secret = rolled.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != subscribed["secret"]
    event_id = (await app_client.post(f"/v1/webhooks/{subscribed['id']}/test")).json()["event_id"]
    await asyncio.to_thread(receiver.wait_for, lambda got: any(
        r.headers["webhook-id"] == event_id for r in got), 5.0)
    [item] = [r for r in receiver.received if r.headers["webhook-id"] == event_id]
    assert len(item.headers["webhook-signature"].split(" ")) == 2
    assert verified(new_secret, item)["type"] == "webhook.test"
    assert verified(subscribed["secret"], item)["type"] == "webhook.test"


async def test_a_delivery_under_way_when_the_service_stops_is_finished_and_recorded(
        hook_settings: Settings, root_key: str, receiver: Receiver) -> None:
    async with running_app(hook_settings, root_key=root_key) as (client, _):
        hook = (await client.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"]})).json()
        await wait_for_type(receiver, "webhook.create")
        receiver.hold_seconds = 0.5  # the answer comes after the stop has begun
        event_id = (await client.post(f"/v1/webhooks/{hook['id']}/test")).json()["event_id"]
        await asyncio.to_thread(receiver.wait_for, lambda got: any(
            r.headers["webhook-id"] == event_id for r in got), 5.0)
    receiver.hold_seconds = 0.0
    async with running_app(hook_settings, root_key=root_key) as (client, _):
        deliveries = (await client.get(f"/v1/webhooks/{hook['id']}/deliveries")).json()["items"]
    [test] = [d for d in deliveries if d["event_id"] == event_id]
    assert (test["state"], test["attempts"], test["last_status"]) == ("delivered", 1, 200)
    assert len([r for r in receiver.received if r.headers["webhook-id"] == event_id]) == 1
