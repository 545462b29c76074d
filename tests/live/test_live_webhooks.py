"""Webhooks from real `keyplane serve` processes: an alert stored before a SIGKILL is
delivered after the restart; two replicas on one PostgreSQL deliver each event once."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from live.serving import free_port, start
from standardwebhooks import Webhook as StandardWebhook
from webhooks.receiver import receiving

pytestmark = pytest.mark.live

FAST = {"KEYPLANE_WEBHOOKS_ALLOW_PRIVATE": "true", "KEYPLANE_WEBHOOK_TIMEOUT_SECONDS": "1",
        "KEYPLANE_WEBHOOK_RETRY_BASE_SECONDS": "0.2", "KEYPLANE_WEBHOOK_RETRY_MAX_SECONDS": "1",
        "KEYPLANE_WEBHOOK_POLL_SECONDS": "0.2", "KEYPLANE_USAGE_FLUSH_SECONDS": "0.2"}


def admin(url: str, root_key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {root_key}"}, timeout=10)


def wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def test_an_alert_stored_before_a_sigkill_is_delivered_after_the_restart(tmp_path: Path) -> None:
    root_key = "live-root-" + secrets.token_urlsafe(32)
    port = free_port()  # the receiver is down until the server has been killed
    served = start(tmp_path / "home", KEYPLANE_ROOT_KEY=root_key, **FAST)
    try:
        with admin(served.url, root_key) as client:
            hook = client.post("/v1/webhooks", json={
                "url": f"http://127.0.0.1:{port}/hooks", "events": ["alert.*"]}).json()
            api = client.post("/v1/apis", json={"name": "docs", "key_prefix": "sk_live"}).json()
            key = client.post("/v1/keys", json={"api_id": api["id"]}).json()
            client.post(f"/v1/keys/{key['id']}/revoke")
            assert client.post("/v1/keys/verify", json={"key": key["key"]}).json()["code"] == "REVOKED"
            [alert] = wait(lambda: client.get("/v1/alerts", params={"type": "key.revoked_used"})
                           .json()["items"], 10, "the alert opens")
            [delivery] = client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["items"]
            assert delivery["state"] == "pending" and delivery["event_type"] == "alert.key.revoked_used"
    finally:
        served.kill()  # SIGKILL: nothing is flushed or closed
    with receiving(port) as receiver:
        restarted = start(tmp_path / "home", KEYPLANE_ROOT_KEY=root_key, **FAST)
        try:
            got = receiver.wait_for(lambda got: len(got) >= 1, 20.0)
            payload = StandardWebhook(hook["secret"]).verify(got[0].body, got[0].headers)
            assert payload["type"] == "alert.key.revoked_used" and payload["data"]["id"] == alert["id"]
            assert got[0].headers["webhook-id"] == delivery["event_id"]
            with admin(restarted.url, root_key) as client:
                wait(lambda: client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["items"][0]
                     ["state"] == "delivered", 10, "the delivery is marked delivered")
        finally:
            restarted.stop()


def test_two_replicas_on_postgresql_deliver_each_event_once(tmp_path: Path, own_pg_url: str) -> None:
    root_key = "live-root-" + secrets.token_urlsafe(32)
    shared = {"KEYPLANE_ROOT_KEY": root_key, "KEYPLANE_DATABASE_URL": own_pg_url,
              "KEYPLANE_SECRET_KEY": "live-secret-" + "s" * 32, **FAST}
    with receiving() as receiver:
        first = start(tmp_path / "one", **shared)
        second = start(tmp_path / "two", **shared)
        try:
            with admin(first.url, root_key) as one, admin(second.url, root_key) as two:
                hook = one.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"]}).json()
                receiver.statuses = [500] * 5  # some retries too, each claimed by one replica
                sent = []
                for i in range(40):
                    client = one if i % 2 else two
                    sent.append(client.post(f"/v1/webhooks/{hook['id']}/test").json()["event_id"])
                got = receiver.wait_for(lambda got: set(sent) <= {r.headers["webhook-id"] for r in got}, 30)
                time.sleep(1.0)  # time for a duplicate, if any, to arrive
                got = receiver.received
            verified = [StandardWebhook(hook["secret"]).verify(r.body, r.headers) for r in got]
            assert all(v["type"] in ("webhook.test", "webhook.create") for v in verified)
            answered_200 = Counter(r.headers["webhook-id"] for r in got[5:])
            attempts = Counter(r.headers["webhook-id"] for r in got)
            # Every event arrived; each one more than once only where it had been refused.
            assert set(sent) <= set(attempts)
            assert all(n == 1 for n in answered_200.values()), answered_200
            assert sum(attempts.values()) == len(attempts) + 5
        finally:
            first.stop()
            second.stop()
