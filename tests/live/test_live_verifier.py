"""The verifier SDK against a real `keyplane serve`, on SQLite and on PostgreSQL: the key
cache emptied by push, the revocation feed, opaque tokens, the service going away."""

from __future__ import annotations

import json
import secrets
import time

import httpx
import pytest
from live.sdk_setup import AUDIENCE, CountingTransport, setup
from live.serving import start

from keyplane import AuthError, Verifier

pytestmark = pytest.mark.live


@pytest.fixture
def kp(served):
    server, root_key = served
    kp = setup(server.url, root_key)
    yield kp
    kp.admin.close()


@pytest.fixture
def make_verifier(kp):
    made = []

    def make(**options):
        options = {"issuer": kp.url, "audience": AUDIENCE, "api_id": kp.api_id,
                   "root_key": kp.root_key, "revocation_poll_seconds": 0.2, **options}
        verifier = Verifier(**options)
        made.append(verifier)
        assert verifier.wait_ready(10)
        return verifier

    yield make
    for verifier in made:
        verifier.close()


def refused_within(verifier, header, seconds):
    """Verify until refused (the push or the poll arriving); raises if it never is."""
    deadline = time.monotonic() + seconds
    tries = 0
    while True:
        tries += 1
        try:
            verifier.verify_sync(header)
        except AuthError as exc:
            return exc, tries
        assert time.monotonic() < deadline, f"still accepted after {seconds} s"
        time.sleep(0.002)


def test_a_cached_key_is_refused_as_soon_as_the_revoke_call_returns(kp, make_verifier):
    verifier = make_verifier()
    key = kp.create_key()
    header = f"Bearer {key['key']}"
    assert verifier.verify_sync(header).key_id == key["id"]
    assert verifier.verify_sync(header).key_id == key["id"]
    assert verifier.stats()["remote_key_checks"] == 1  # the second answer came from the cache

    assert kp.admin.post(f"/v1/keys/{key['id']}/revoke").status_code == 200
    error, _tries = refused_within(verifier, header, 1.0)
    assert (error.status, error.description) == (401, "the API key was revoked")


@pytest.mark.parametrize("change", ["disable", "permissions", "delete", "roll", "role", "expose"])
def test_every_kind_of_key_change_reaches_the_cache(kp, make_verifier, change):
    verifier = make_verifier()
    if change != "role":
        key = kp.create_key()
    else:
        assert kp.admin.put(f"/v1/apis/{kp.api_id}/roles/reader",
                            json={"permissions": ["documents.read"]}).status_code == 200
        key = kp.create_key(permissions=[], roles=["reader"])
    header = f"Bearer {key['key']}"
    assert verifier.verify_sync(header, permissions="documents.read")
    assert verifier.verify_sync(header, permissions="documents.read")
    checks = verifier.stats()["remote_key_checks"]
    admin = kp.admin
    if change == "disable":
        assert admin.patch(f"/v1/keys/{key['id']}", json={"enabled": False}).status_code == 200
    elif change == "permissions":
        assert admin.patch(f"/v1/keys/{key['id']}", json={"permissions": []}).status_code == 200
    elif change == "delete":
        assert admin.delete(f"/v1/keys/{key['id']}").status_code == 204
    elif change == "roll":
        assert admin.post(f"/v1/keys/{key['id']}/roll", json={"grace_seconds": 0}).status_code == 201
    elif change == "role":
        assert admin.put(f"/v1/apis/{kp.api_id}/roles/reader", json={"permissions": []}).status_code == 200
    else:
        assert admin.post(f"/v1/keys/{key['id']}/expose").status_code == 200
    deadline = time.monotonic() + 1.0
    while verifier.stats()["cached_keys"] and time.monotonic() < deadline:
        time.sleep(0.002)
    with pytest.raises(AuthError) as caught:
        verifier.verify_sync(header, permissions="documents.read")
    # a key no longer valid is 401; one that lost the permission is 403 (RFC 6750 §3.1)
    assert caught.value.status == (403 if change in ("permissions", "role") else 401)
    assert verifier.stats()["remote_key_checks"] == checks + 1


def test_a_revoked_jwt_is_refused_within_the_polling_interval(kp, make_verifier):
    verifier = make_verifier(revocation_poll_seconds=0.2)
    client = kp.create_client()
    token = kp.token(client)
    assert verifier.verify_sync(f"Bearer {token}").client_id == client["client_id"]
    kp.revoke_token(client, token)
    revoked_at = time.monotonic()
    error, _ = refused_within(verifier, f"Bearer {token}", 0.2 + 1.0)
    assert error.description == "the access token was revoked"
    assert time.monotonic() - revoked_at < 1.2
    assert verifier.verify_sync(f"Bearer {kp.token(client)}")  # other tokens still pass


def test_opaque_tokens_are_introspected_and_must_be_for_this_audience(kp, make_verifier):
    verifier = make_verifier()
    client = kp.create_client(token_format="opaque", audiences=[AUDIENCE, "https://other.example.com"])
    token = kp.token(client)
    assert token.startswith("kp_at_")
    principal = verifier.verify_sync(f"Bearer {token}")
    assert principal.kind == "access_token" and principal.scopes == {"documents.read"}
    other = kp.token(client, resource="https://other.example.com")
    with pytest.raises(AuthError) as caught:
        verifier.verify_sync(f"Bearer {other}")
    assert caught.value.status == 401


async def test_the_async_verify_shares_the_background_loop(kp, make_verifier):
    verifier = make_verifier()
    key = kp.create_key()
    first = await verifier.verify(f"Bearer {key['key']}")
    second = verifier.verify_sync(f"Bearer {key['key']}")
    assert first == second and verifier.stats()["remote_key_checks"] == 1
    # verify_sync inside a running loop, on a miss: it waits on the verifier's own loop
    # (no private loop per call, no deadlock).
    other = kp.create_key()
    assert verifier.verify_sync(f"Bearer {other['key']}").key_id == other["id"]
    assert verifier.stats()["remote_key_checks"] == 2


def test_an_unreachable_service_is_a_prompt_503_for_keys_and_tokens(tmp_path):
    root_key = "live-root-" + secrets.token_urlsafe(32)
    served = start(tmp_path / "gone", KEYPLANE_ROOT_KEY=root_key)
    kp = setup(served.url, root_key)
    key = kp.create_key()
    token = kp.token(kp.create_client())
    verifier = Verifier(issuer=served.url, audience=AUDIENCE, api_id=kp.api_id, root_key=root_key,
                        timeout_seconds=0.5, revocation_poll_seconds=0.1,
                        revocation_max_staleness_seconds=0.5)
    try:
        assert verifier.wait_ready(10)
        assert verifier.verify_sync(f"Bearer {token}")
        served.stop()
        started = time.monotonic()
        with pytest.raises(AuthError) as caught:
            verifier.verify_sync(f"Bearer {key['key']}")
        assert (caught.value.status, caught.value.error) == (503, "temporarily_unavailable")
        assert caught.value.headers["Retry-After"] == "1"
        assert "WWW-Authenticate" not in caught.value.headers
        # JWTs are checked offline only while the revocation list is fresh enough.
        time.sleep(0.6)
        with pytest.raises(AuthError) as caught:
            verifier.verify_sync(f"Bearer {token}")
        assert caught.value.status == 503
        assert time.monotonic() - started < 5
        assert not verifier.stats()["key_cache_enabled"]
    finally:
        verifier.close()
        kp.admin.close()
        served.stop()


def test_a_verifier_counts_its_requests_through_a_real_transport(kp):
    # The service makes its first signing key on first use and announces it to verifiers,
    # which then read the JWKS again: made here first, as by any token issued before.
    assert httpx.get(f"{kp.url}/.well-known/jwks.json").json()["keys"]
    transport = CountingTransport()
    verifier = Verifier(issuer=kp.url, audience=AUDIENCE, api_id=kp.api_id, root_key=kp.root_key,
                        transport=transport)
    try:
        assert verifier.wait_ready(10)
        assert transport.paths["/.well-known/jwks.json"] == 1
        assert transport.paths["/v1/keys/changes"] == 1
    finally:
        verifier.close()


def test_closing_the_verifier_ends_its_stream(kp):
    verifier = Verifier(issuer=kp.url, audience=AUDIENCE, api_id=kp.api_id, root_key=kp.root_key)
    assert verifier.wait_ready(10)
    verifier.close()
    assert not verifier.stats()["key_cache_enabled"]
    verifier.close()  # idempotent
    assert httpx.get(f"{kp.url}/healthz").status_code == 200


def test_a_revoke_on_another_replica_reaches_the_cache_through_redis(tmp_path, own_pg_url, redis_url):
    root_key = "live-root-" + secrets.token_urlsafe(32)
    shared = {"KEYPLANE_ROOT_KEY": root_key, "KEYPLANE_DATABASE_URL": own_pg_url,
              "KEYPLANE_REDIS_URL": redis_url, "KEYPLANE_SECRET_KEY": "replica-secret-" + "s" * 32}
    first = start(tmp_path / "a", **shared)
    second = start(tmp_path / "b", **shared)
    verifier = None
    try:
        kp = setup(first.url, root_key)
        key = kp.create_key()
        verifier = Verifier(issuer=first.url, api_id=kp.api_id, root_key=root_key)
        assert verifier.wait_ready(10)  # subscribed to the first replica
        header = f"Bearer {key['key']}"
        assert verifier.verify_sync(header) and verifier.verify_sync(header)
        assert verifier.stats()["remote_key_checks"] == 1
        revoked = httpx.post(f"{second.url}/v1/keys/{key['id']}/revoke",
                             headers={"Authorization": f"Bearer {root_key}"})
        assert revoked.status_code == 200
        error, _ = refused_within(verifier, header, 1.0)
        assert error.description == "the API key was revoked"
        kp.admin.close()
    finally:
        if verifier is not None:
            verifier.close()
        second.stop()
        first.stop()


def test_with_several_workers_and_no_redis_keys_are_never_cached(tmp_path):
    root_key = "live-root-" + secrets.token_urlsafe(32)
    served = start(tmp_path / "workers", args=("--workers", "2"), KEYPLANE_ROOT_KEY=root_key,
                   KEYPLANE_ACCESS_LOG="true")  # the stream's refusal is read from it
    verifier = None
    try:
        kp = setup(served.url, root_key)
        key = kp.create_key()
        verifier = Verifier(issuer=served.url, api_id=kp.api_id, root_key=root_key)
        verifier.start()
        header = f"Bearer {key['key']}"
        for _ in range(3):
            assert verifier.verify_sync(header).key_id == key["id"]
        stats = verifier.stats()
        assert (stats["key_cache_enabled"], stats["remote_key_checks"]) == (False, 3)
        deadline = time.monotonic() + 5  # the stream was asked for, and refused
        while not (asked := _access_lines(served.log(), "/v1/keys/changes")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert all(line["method"] == "GET" and line["status"] == 503 for line in asked)
        assert kp.admin.post(f"/v1/keys/{key['id']}/revoke").status_code == 200
        with pytest.raises(AuthError):  # whichever worker answered the revoke: exact
            verifier.verify_sync(header)
        kp.admin.close()
    finally:
        if verifier is not None:
            verifier.close()
        served.stop()


def _access_lines(log: str, path: str) -> list[dict[str, object]]:
    """The access log's lines (JSON, http/access_log.py) for requests to `path`."""
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("path") == path]
