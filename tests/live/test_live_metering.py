"""Metering across real processes: limits shared through Redis, usage kept over a stop."""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx
import pytest
from live.serving import start

pytestmark = pytest.mark.live



def _setup(url: str, root_key: str, **key_fields) -> tuple[str, dict]:
    headers = {"Authorization": f"Bearer {root_key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        api = client.post("/v1/apis", json={"name": "shared", "key_prefix": "sk_live"}).json()
        key = client.post("/v1/keys", json={"api_id": api["id"], **key_fields})
        assert key.status_code == 201, key.text
        return api["id"], key.json()


async def _verify_many(urls: list[str], root_key: str, key: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {root_key}"}
    async with httpx.AsyncClient(headers=headers, timeout=30,
                                 limits=httpx.Limits(max_connections=50)) as client:
        async def one(i: int) -> str:
            response = await client.post(f"{urls[i % len(urls)]}/v1/keys/verify", json={"key": key})
            assert response.status_code == 200, response.text
            return str(response.json()["code"])

        return list(await asyncio.gather(*(one(i) for i in range(count))))


def test_two_services_sharing_redis_admit_exactly_the_limit_between_them(tmp_path, own_pg_url, redis_url):
    root_key = "live-root-" + secrets.token_urlsafe(32)
    shared = dict(KEYPLANE_ROOT_KEY=root_key, KEYPLANE_REDIS_URL=redis_url,
                  KEYPLANE_DATABASE_URL=own_pg_url, KEYPLANE_SECRET_KEY="live-secret-" + "x" * 32)
    first = start(tmp_path / "a", **shared)
    second = start(tmp_path / "b", **shared)
    try:
        _, key = _setup(first.url, root_key,
                        ratelimits=[{"name": "requests", "limit": 50, "window_seconds": 3600}])
        codes = asyncio.run(_verify_many([first.url, second.url], root_key, key["key"], 200))
        assert codes.count("VALID") == 50
        assert codes.count("RATE_LIMITED") == 150
    finally:
        assert first.stop() == 0
        assert second.stop() == 0


def test_a_graceful_stop_writes_every_buffered_usage_record(tmp_path):
    root_key = "live-root-" + secrets.token_urlsafe(32)
    # A flush interval longer than the test: only the stop can write the records.
    settings = dict(KEYPLANE_ROOT_KEY=root_key, KEYPLANE_USAGE_FLUSH_SECONDS="60")
    served = start(tmp_path, **settings)
    try:
        _, key = _setup(served.url, root_key, ratelimits=[{"name": "r", "limit": 30, "window_seconds": 3600}])
        codes = asyncio.run(_verify_many([served.url], root_key, key["key"], 40))
    finally:
        assert served.stop() == 0
    restarted = start(tmp_path, **settings)
    try:
        with httpx.Client(base_url=restarted.url, headers={"Authorization": f"Bearer {root_key}"}) as client:
            usage = client.get(f"/v1/keys/{key['id']}/usage", params={"granularity": "day"}).json()
            stored = client.get(f"/v1/keys/{key['id']}").json()
    finally:
        assert restarted.stop() == 0
    totals: dict[str, int] = {}
    for bucket in usage["items"]:
        for code, n in bucket["counts"].items():
            totals[code] = totals.get(code, 0) + n
    assert totals == {"VALID": codes.count("VALID"), "RATE_LIMITED": codes.count("RATE_LIMITED")}
    assert totals["VALID"] == 30
    assert stored["last_used_at"] is not None


def test_two_services_spending_one_balance_never_overspend_and_give_back_on_stop(tmp_path, own_pg_url):
    # Each process spends from blocks it leases from the balance (metering/leases.py): together
    # they never pass it, and what they hold unspent goes back when they stop.
    root_key = "live-root-" + secrets.token_urlsafe(32)
    shared = dict(KEYPLANE_ROOT_KEY=root_key, KEYPLANE_DATABASE_URL=own_pg_url,
                  KEYPLANE_SECRET_KEY="live-secret-" + "x" * 32)
    first = start(tmp_path / "a", **shared)
    second = start(tmp_path / "b", **shared)
    try:
        # Small: PostgreSQL verifies at a few hundred a second here (bench/NOTES.md §12).
        _, key = _setup(first.url, root_key, credits={"remaining": 250})
        codes = asyncio.run(_verify_many([first.url, second.url], root_key, key["key"], 280))
    finally:
        assert first.stop() == 0
        assert second.stop() == 0
    valid = codes.count("VALID")
    assert 250 - 2 * 2 <= valid <= 250  # at most one block (1/100 of 250) held apart each
    assert codes.count("USAGE_EXCEEDED") == 280 - valid
    left = asyncio.run(_pg_fetch(own_pg_url, "SELECT credits_remaining FROM keys WHERE id = $1", key["id"]))
    assert left == 250 - valid


async def _pg_fetch(url: str, query: str, *args: object) -> object:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1), timeout=5)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


def test_replicas_on_postgresql_without_redis_see_each_others_changes(tmp_path, own_pg_url):
    # Each keeps keys in memory (PostgreSQL tells it of changes): a key verified on the
    # second replica, then revoked and its role changed on the first, answers the change there.
    root_key = "live-root-" + secrets.token_urlsafe(32)
    shared = dict(KEYPLANE_ROOT_KEY=root_key, KEYPLANE_DATABASE_URL=own_pg_url,
                  KEYPLANE_SECRET_KEY="live-secret-" + "x" * 32)
    first = start(tmp_path / "a", **shared)
    second = start(tmp_path / "b", **shared)
    headers = {"Authorization": f"Bearer {root_key}"}
    try:
        with httpx.Client(headers=headers, timeout=10) as client:
            api = client.post(f"{first.url}/v1/apis", json={"name": "shared", "key_prefix": "sk_live"}).json()
            assert client.put(f"{first.url}/v1/apis/{api['id']}/roles/reader",
                              json={"permissions": ["documents.read"]}).status_code == 200
            key = client.post(f"{first.url}/v1/keys", json={"api_id": api["id"], "roles": ["reader"]}).json()

            def verify() -> dict:
                answer = client.post(f"{second.url}/v1/keys/verify",
                                     json={"key": key["key"], "permissions": "documents.read"})
                assert answer.status_code == 200, answer.text
                return dict(answer.json())

            def within(seconds: float, code: str) -> None:
                deadline = time.monotonic() + seconds
                while (answer := verify())["code"] != code:
                    assert time.monotonic() < deadline, answer
                    time.sleep(0.02)

            for _ in range(3):  # kept on the second replica from here on
                assert verify()["code"] == "VALID"
            assert client.put(f"{first.url}/v1/apis/{api['id']}/roles/reader",
                              json={"permissions": ["documents.write"]}).status_code == 200
            within(2.0, "INSUFFICIENT_PERMISSIONS")
            assert client.post(f"{first.url}/v1/keys/{key['id']}/revoke").status_code == 200
            within(2.0, "REVOKED")
    finally:
        second.stop()
        first.stop()
