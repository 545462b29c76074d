"""`keyplane serve --workers 2`: several processes, one store."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest
from live.serving import Served, start

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    root_key = "workers-root-" + secrets.token_urlsafe(32)
    served = start(tmp_path_factory.mktemp("workers"), args=("--workers", "2"),
                   KEYPLANE_ROOT_KEY=root_key)
    yield served, root_key
    served.stop()


def _fresh_connection_verify(url: str, root_key: str, key: str) -> str:
    # A new client each time: a new connection, which either worker may accept.
    with httpx.Client(base_url=url, timeout=10.0,
                      headers={"Authorization": f"Bearer {root_key}"}) as client:
        code: str = client.post("/v1/keys/verify", json={"key": key}).json()["code"]
        return code


def test_two_workers_serve_and_both_start_their_app(two_workers: tuple[Served, str]) -> None:
    served, _ = two_workers
    assert httpx.get(f"{served.url}/readyz").status_code == 200
    log = served.log()
    assert log.count("keyplane ready") == 2


def test_a_key_made_through_one_worker_verifies_and_revokes_everywhere(
        two_workers: tuple[Served, str]) -> None:
    served, root_key = two_workers
    with httpx.Client(base_url=served.url, timeout=10.0,
                      headers={"Authorization": f"Bearer {root_key}"}) as admin:
        api_id = admin.post("/v1/apis", json={"name": "shared"}).json()["id"]
        created = admin.post("/v1/keys", json={"api_id": api_id}).json()
    codes = {_fresh_connection_verify(served.url, root_key, created["key"]) for _ in range(12)}
    assert codes == {"VALID"}

    with httpx.Client(base_url=served.url, timeout=10.0,
                      headers={"Authorization": f"Bearer {root_key}"}) as admin:
        assert admin.post(f"/v1/keys/{created['id']}/revoke").status_code == 200
    codes = {_fresh_connection_verify(served.url, root_key, created["key"]) for _ in range(12)}
    assert codes == {"REVOKED"}


def test_workers_get_the_root_key_made_once_by_the_parent(two_workers: tuple[Served, str]) -> None:
    served, root_key = two_workers
    assert served.log().count("KEYPLANE_ROOT_KEY is now a root key") == 1
    with httpx.Client(base_url=served.url, timeout=10.0,
                      headers={"Authorization": f"Bearer {root_key}"}) as admin:
        root_keys = admin.get("/v1/root-keys").json()["items"]
    assert [k["name"] for k in root_keys].count("KEYPLANE_ROOT_KEY") == 1


def test_workers_without_redis_say_at_start_what_that_means_for_rate_limits(
        two_workers: tuple[Served, str]) -> None:
    served, _ = two_workers
    assert "2 workers without KEYPLANE_REDIS_URL" in served.log()
    assert "up to 2×N" in served.log()
