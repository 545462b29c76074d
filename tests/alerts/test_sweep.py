"""The periodic sweep: rotation policy, keys about to expire, usage spikes; and /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from running_app import running_app

from keyplane.clock import FakeClock, rfc3339
from keyplane.config import Settings


@pytest.fixture
async def swept(settings: Settings, clock: FakeClock, root_key: str) -> AsyncIterator[httpx.AsyncClient]:
    tuned = settings.model_copy(update={"alert_sweep_seconds": 0.1, "usage_flush_seconds": 0.1,
                                        "alert_spike_floor": 5, "alert_spike_factor": 3.0})
    async with running_app(tuned, clock=clock, root_key=root_key) as (client, _):
        yield client


async def alerts_of(client: httpx.AsyncClient, alert_type: str, n: int = 1) -> list[dict[str, Any]]:
    for _ in range(100):
        items = (await client.get("/v1/alerts", params={"type": alert_type})).json()["items"]
        if len(items) >= n:
            return list(items)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {alert_type} alert")


async def test_keys_past_their_apis_rotation_policy_open_rotation_due(
        swept: httpx.AsyncClient, clock: FakeClock) -> None:
    created = await swept.post("/v1/apis", json={"name": "a", "key_prefix": "sk_a", "rotation_days": 30})
    assert created.status_code == 201 and created.json()["rotation_days"] == 30
    api = created.json()
    other = (await swept.post("/v1/apis", json={"name": "b", "key_prefix": "sk_b"})).json()
    old = (await swept.post("/v1/keys", json={"api_id": api["id"]})).json()
    await swept.post("/v1/keys", json={"api_id": other["id"]})
    clock.advance(days=31)
    [alert] = await alerts_of(swept, "key.rotation_due")
    assert alert["subject"] == {"kind": "key", "id": old["id"]} and alert["severity"] == "info"
    assert alert["details"]["rotation_days"] == 30 and alert["api_id"] == api["id"]
    await asyncio.sleep(0.3)  # later sweeps refresh it, never open another
    assert len(await alerts_of(swept, "key.rotation_due")) == 1
    patched = await swept.patch(f"/v1/apis/{other['id']}", json={"rotation_days": None})
    assert patched.status_code == 200 and patched.json()["rotation_days"] is None
    assert (await swept.patch(f"/v1/apis/{other['id']}", json={"rotation_days": 0})).status_code == 422


async def test_keys_expiring_within_seven_days_open_key_expiring(
        swept: httpx.AsyncClient, clock: FakeClock) -> None:
    api = (await swept.post("/v1/apis", json={"name": "a", "key_prefix": "sk_a"})).json()
    soon = (await swept.post("/v1/keys", json={
        "api_id": api["id"], "expires_at": rfc3339(clock.now() + timedelta(days=3))})).json()
    await swept.post("/v1/keys", json={"api_id": api["id"],
                                       "expires_at": rfc3339(clock.now() + timedelta(days=30))})
    [alert] = await alerts_of(swept, "key.expiring")
    assert alert["subject"]["id"] == soon["id"]


async def test_a_key_far_above_its_baseline_opens_usage_spike_and_metrics_count_it(
        swept: httpx.AsyncClient) -> None:
    api = (await swept.post("/v1/apis", json={"name": "a", "key_prefix": "sk_a"})).json()
    key = (await swept.post("/v1/keys", json={"api_id": api["id"]})).json()
    quiet = (await swept.post("/v1/keys", json={"api_id": api["id"]})).json()
    for _ in range(6):
        await swept.post("/v1/keys/verify", json={"key": key["key"]})
    await swept.post("/v1/keys/verify", json={"key": quiet["key"]})
    [alert] = await alerts_of(swept, "usage.spike")
    assert alert["subject"]["id"] == key["id"] and alert["details"]["count"] >= 6
    for _ in range(100):
        text = (await swept.get("/metrics")).text
        if 'keyplane_alerts_opened_total{type="usage.spike"} 1.0' in text:
            break
        await asyncio.sleep(0.05)
    assert 'keyplane_alerts_opened_total{type="usage.spike"} 1.0' in text
