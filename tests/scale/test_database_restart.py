"""A PostgreSQL that stops and starts again, seen by one app in process: every request
meanwhile is a 503 with Retry-After (problem+json on /v1, `temporarily_unavailable` at the
OAuth endpoints), never a 500, and the next requests after it answers go through.

Found by the fault harness: a connection refused while connecting, and a connection the
server closed in the middle of a statement, both reached the edge as 500s.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from scale.cluster import Postgres

from keyplane.app import create_app
from keyplane.config import load_settings

@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    directory = Path(tempfile.mkdtemp(prefix="keyplane-pg-"))
    directory.chmod(0o755)
    server = None
    try:
        server = Postgres(directory / "pg")
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


async def test_requests_while_the_database_restarts_are_503s_then_served(postgres, tmp_path, root_key):
    settings = load_settings({}, data_dir=tmp_path / "data", database_url=postgres.url,
                             root_key=root_key, secret_key="test-secret-" + "s" * 32)
    app = create_app(settings)
    async with LifespanManager(app) as manager, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app, raise_app_exceptions=False),
            base_url="http://testserver", headers={"Authorization": f"Bearer {root_key}"}) as http:
        api_id = (await http.post("/v1/apis", json={"name": "restart"})).json()["id"]
        key = (await http.post("/v1/keys", json={"api_id": api_id})).json()
        client = (await http.post("/v1/clients", json={
            "name": "svc", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["documents.read"], "audiences": ["https://api.example.com"]})).json()
        basic = httpx.BasicAuth(client["client_id"], client["client_secret"])
        token = (await http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                 auth=basic)).json()["access_token"]

        def requests() -> list[tuple[str, object]]:
            return [("verify", http.post("/v1/keys/verify", json={"key": key["key"]})),
                    ("create", http.post("/v1/keys", json={"api_id": api_id})),
                    ("get", http.get(f"/v1/keys/{key['id']}")),
                    ("token", http.post("/oauth/token", data={"grant_type": "client_credentials"},
                                        auth=basic)),
                    ("introspect", http.post("/oauth/introspect", data={"token": token}, auth=basic))]

        postgres.stop()  # the pooled connections die with it: the first use of each fails
        try:
            for _ in range(2):
                for name, sent in requests():
                    response = await sent  # type: ignore[misc]
                    assert response.status_code == 503, (name, response.text)
                    assert response.headers["retry-after"] == "1"
                    if name in ("token", "introspect"):
                        assert response.json()["error"] == "temporarily_unavailable"
                    else:
                        assert response.headers["content-type"] == "application/problem+json"
                        assert response.json()["title"] == "Service Unavailable"
            assert (await http.get("/readyz")).status_code == 503
        finally:
            postgres.start()
        for name, sent in requests():
            response = await sent  # type: ignore[misc]
            assert response.status_code == (201 if name == "create" else 200), (name, response.text)
        assert (await http.post("/v1/keys/verify", json={"key": key["key"]})).json()["code"] == "VALID"
