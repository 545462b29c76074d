"""End to end over real HTTP, against `keyplane serve` on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from live.serving import Served

pytestmark = pytest.mark.live


def test_health_and_readiness_answer_over_http(served: tuple[Served, str]) -> None:
    server, _ = served
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/readyz").json() == {"status": "ready"}


def test_management_needs_the_root_key(served: tuple[Served, str]) -> None:
    server, _ = served
    response = httpx.get(f"{server.url}/v1/apis")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_a_key_created_over_http_verifies_until_it_is_revoked(admin: httpx.Client) -> None:
    api = admin.post("/v1/apis", json={"name": "documents", "key_prefix": "sk_live"})
    assert api.status_code == 201, api.text
    created = admin.post("/v1/keys", json={"api_id": api.json()["id"],
                                           "permissions": ["documents.read"]})
    assert created.status_code == 201, created.text
    key, key_id = created.json()["key"], created.json()["id"]
    assert key.startswith("sk_live_")

    verdict = admin.post("/v1/keys/verify", json={"key": key, "permissions": "documents.read"})
    assert verdict.status_code == 200
    assert verdict.json()["code"] == "VALID"
    assert verdict.json()["key_id"] == key_id

    assert admin.post(f"/v1/keys/{key_id}/revoke").status_code == 200
    assert admin.post("/v1/keys/verify", json={"key": key}).json()["code"] == "REVOKED"


def test_neither_root_keys_nor_keys_reach_the_log(served: tuple[Served, str],
                                                 admin: httpx.Client) -> None:
    server, root_key = served
    api_id = admin.post("/v1/apis", json={"name": "logged"}).json()["id"]
    key = admin.post("/v1/keys", json={"api_id": api_id}).json()["key"]
    admin.post("/v1/keys/verify", json={"key": key})
    admin.get("/v1/keys", params={"api_id": api_id, "limit": 5})
    listed = {"method": "GET", "path": "/v1/keys", "query": f"api_id={api_id}&limit=5", "status": 200}
    verified = {"method": "POST", "path": "/v1/keys/verify", "status": 200}
    deadline = time.monotonic() + 5  # the access log is written a few times a second
    while True:
        log = server.log()
        lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        seen = [{k: line.get(k) for k in want} for want in (listed, verified) for line in lines]
        if (listed in seen and verified in seen) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert listed in seen and verified in seen, log
    assert root_key not in log and key not in log


def test_docs_page_loads_its_script_and_styles_from_the_service_itself(
        sqlite_server: tuple[Served, str]) -> None:
    server, _ = sqlite_server
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assets = re.findall(r'<(?:script|link)[^>]*?(?:src|href)="([^"]+)"', page.text)
        assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
        for asset in assets:
            if asset.startswith("data:"):
                continue
            assert asset.startswith("/"), f"{asset} is not served by keyplane"
            loaded = client.get(asset)
            assert loaded.status_code == 200, asset
            assert len(loaded.content) > 1000, asset
        assert client.get("/openapi.json").json()["paths"]["/v1/keys/verify"]
