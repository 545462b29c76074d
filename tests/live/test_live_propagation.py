"""Changes reach a running `Verifier` by push, within 1 s: a key revocation, a client
deletion and a signing-key rotation, each made on one replica while the verifier follows
the other (two `keyplane serve` on one PostgreSQL and one Redis).

Without the push a deleted client's tokens would pass until the next revocation poll (5 s
by default, as here) and a withdrawn signing key until the JWKS cache expires (an hour).
20 trials each; every one must be under 1 s (bench/propagation.py measures p50/p100 over
100).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

import pytest
from live.sdk_setup import AUDIENCE, Keyplane, setup
from live.serving import Served, start

from keyplane import AuthError, Verifier

pytestmark = pytest.mark.live

TRIALS = 20
BOUND_SECONDS = 1.0


@dataclass
class Replicas:
    first: Served
    second: Served
    kp: Keyplane  # its admin client talks to the second replica: every change is made there
    verifier: Verifier  # follows the first


@pytest.fixture
def replicas(tmp_path, own_pg_url: str, redis_url: str) -> Iterator[Replicas]:
    root_key = "live-root-" + secrets.token_urlsafe(32)
    shared = {"KEYPLANE_ROOT_KEY": root_key, "KEYPLANE_DATABASE_URL": own_pg_url,
              "KEYPLANE_REDIS_URL": redis_url, "KEYPLANE_SECRET_KEY": "replica-secret-" + "s" * 32}
    first = start(tmp_path / "a", **shared)
    # One issuer for both (the first's URL, where the verifier finds the metadata and JWKS).
    second = start(tmp_path / "b", KEYPLANE_ISSUER=first.url, **shared)
    verifier = None
    try:
        kp = setup(second.url, root_key)
        # Defaults for every staleness bound: what reaches the verifier in time is pushed.
        verifier = Verifier(issuer=first.url, audience=AUDIENCE, api_id=kp.api_id,
                            root_key=root_key)
        assert verifier.wait_ready(10)
        yield Replicas(first, second, kp, verifier)
        kp.admin.close()
    finally:
        if verifier is not None:
            verifier.close()
        second.stop()
        first.stop()


def seconds_until(done: Callable[[], bool]) -> float:
    """How long after now `done()` becomes true; fails past BOUND_SECONDS (and a little)."""
    started = time.monotonic()
    while not done():
        elapsed = time.monotonic() - started
        assert elapsed < BOUND_SECONDS + 0.5, f"not propagated after {elapsed:.2f} s"
        time.sleep(0.002)
    return time.monotonic() - started


def refused(verifier: Verifier, header: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            verifier.verify_sync(header)
        except AuthError as exc:
            assert exc.status == 401, exc
            return True
        return False

    return check


def test_a_key_revocation_reaches_the_verifier_within_a_second(replicas: Replicas) -> None:
    kp, verifier = replicas.kp, replicas.verifier
    times = []
    for _ in range(TRIALS):
        key = kp.create_key()
        header = f"Bearer {key['key']}"
        verifier.verify_sync(header)
        checks = verifier.stats()["remote_key_checks"]
        verifier.verify_sync(header)
        assert verifier.stats()["remote_key_checks"] == checks  # cached: only a push can refuse it
        assert kp.admin.post(f"/v1/keys/{key['id']}/revoke").status_code == 200
        times.append(seconds_until(refused(verifier, header)))
    assert max(times) < BOUND_SECONDS, times


def test_a_client_deletion_reaches_the_verifier_within_a_second(replicas: Replicas) -> None:
    kp, verifier = replicas.kp, replicas.verifier
    times = []
    for _ in range(TRIALS):
        client = kp.create_client()
        header = f"Bearer {kp.token(client)}"
        assert verifier.verify_sync(header).client_id == client["client_id"]
        assert kp.admin.delete(f"/v1/clients/{client['client_id']}").status_code == 204
        times.append(seconds_until(refused(verifier, header)))
    assert max(times) < BOUND_SECONDS, times
    assert verifier.stats()["revoked_clients"] >= TRIALS


def test_a_signing_key_rotation_reaches_the_verifier_within_a_second(replicas: Replicas) -> None:
    kp, verifier = replicas.kp, replicas.verifier
    client = kp.create_client()
    times = []
    for _ in range(TRIALS):
        old = f"Bearer {kp.token(client)}"
        assert verifier.verify_sync(old)
        # A compromised key: the new key signs at once, the old one leaves the JWKS at once.
        rotated = kp.admin.post("/v1/signing-keys/rotate", json={"immediate": True})
        assert rotated.status_code == 201, rotated.text
        new_kid = rotated.json()["kid"]
        times.append(seconds_until(lambda: new_kid in verifier.jwks.keys and refused(verifier, old)()))
        fetches = verifier.stats()["jwks_fetches"]
        assert verifier.verify_sync(f"Bearer {kp.token(client)}")  # signed by the new key
        assert verifier.stats()["jwks_fetches"] == fetches  # known already: no fetch
    assert max(times) < BOUND_SECONDS, times


def test_a_scheduled_rotation_is_known_to_the_verifier_before_it_signs(replicas: Replicas) -> None:
    kp, verifier = replicas.kp, replicas.verifier
    rotated = kp.admin.post("/v1/signing-keys/rotate")
    assert rotated.status_code == 201, rotated.text
    pending = rotated.json()
    assert pending["status"] == "pending"
    seconds_until(lambda: pending["kid"] in verifier.jwks.keys)


def follow(url: str, root_key: str, count: int, into: list[tuple[str, Any]]) -> threading.Thread:
    """A thread reading the first `count` events of the change stream into `into`."""

    def read() -> None:
        with httpx.Client(timeout=httpx.Timeout(5.0, read=15.0)) as http, http.stream(
                "GET", f"{url}/v1/keys/changes", headers={"Authorization": f"Bearer {root_key}"}) as response:
            assert response.status_code == 200
            event, data = "message", []
            for line in response.iter_lines():
                if not line:
                    if data:
                        into.append((event, json.loads("\n".join(data))))
                        if len(into) == count:
                            return
                    event, data = "message", []
                elif line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    data.append(line.partition(":")[2].strip())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_each_follower_receives_the_changes_its_root_key_covers(tmp_path) -> None:
    root_key = "live-root-" + secrets.token_urlsafe(32)
    served = start(tmp_path / "one", KEYPLANE_ROOT_KEY=root_key)
    try:
        kp = setup(served.url, root_key)
        key = kp.create_key()
        client = kp.create_client()
        grants = {"keys": ["keys.verify"], "tokens": ["tokens.read"], "both": ["keys.verify", "tokens.read"]}
        key_change = ("change", {"api_id": kp.api_id, "key_id": key["id"], "action": "key.revoke"})
        token_changes = [("signing-keys", {"action": "signing_key.rotate"}),
                         ("revocations", {"action": "client.delete"})]
        expected = {"keys": [key_change], "tokens": token_changes, "both": [key_change, *token_changes]}
        received: dict[str, list[tuple[str, Any]]] = {name: [] for name in grants}
        threads = []
        for name, permissions in grants.items():
            made = kp.admin.post("/v1/root-keys", json={"name": name, "permissions": permissions})
            assert made.status_code == 201, made.text
            threads.append(follow(served.url, made.json()["key"], 1 + len(expected[name]), received[name]))
        seconds_until(lambda: all(received.values()))  # every stream is subscribed
        assert kp.admin.post(f"/v1/keys/{key['id']}/revoke").status_code == 200
        assert kp.admin.post("/v1/signing-keys/rotate", json={"immediate": True}).status_code == 201
        assert kp.admin.delete(f"/v1/clients/{client['client_id']}").status_code == 204
        for thread in threads:
            thread.join(10)
        assert received == {name: [("ready", {"heartbeat_seconds": 10}), *events]
                            for name, events in expected.items()}
        kp.admin.close()
    finally:
        served.stop()
