"""The service over ASGI with its services in reach, for tests of the refresh and device
grants that start a grant through a service call (as the user-facing flows do)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from running_app import running_app

from keyplane.clock import FakeClock
from keyplane.config import Settings
from keyplane.services import Services

AUDIENCE = "https://api.example.com"
OTHER_AUDIENCE = "https://reports.example.com"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class Harness:
    http: httpx.AsyncClient  # authenticated with the root key
    services: Services
    clock: FakeClock

    async def client(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "tv app", "type": "confidential",
                "grant_types": [DEVICE_GRANT, "refresh_token"],
                "scopes": ["documents.read", "documents.write"],
                "audiences": [AUDIENCE, OTHER_AUDIENCE], "token_format": "jwt", **fields}
        response = await self.http.post("/v1/clients", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def post(self, path: str, data: Mapping[str, str], client: Mapping[str, Any] | None,
                   headers: Mapping[str, str] | None = None) -> httpx.Response:
        auth: dict[str, str] = {"Authorization": ""}
        form = dict(data)
        if client is not None:
            if client.get("client_secret"):
                auth = basic(client["client_id"], client["client_secret"])
            else:
                form["client_id"] = client["client_id"]
        return await self.http.post(path, data=form, headers={**auth, **FORM, **(headers or {})})

    async def token(self, client: Mapping[str, Any], **data: str) -> httpx.Response:
        return await self.post("/oauth/token", data, client)

    async def refresh(self, client: Mapping[str, Any], refresh_token: str, **data: str) -> httpx.Response:
        return await self.token(client, grant_type="refresh_token", refresh_token=refresh_token, **data)

    async def introspect(self, token: str, client: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if client is None:  # the root key
            response = await self.http.post("/oauth/introspect", data={"token": token}, headers=FORM)
        else:
            response = await self.post("/oauth/introspect", {"token": token}, client)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def start_grant(self, client: Mapping[str, Any], *, subject: str = "usr_alice",
                          scope: tuple[str, ...] = ("documents.read", "documents.write"),
                          audience: tuple[str, ...] = (AUDIENCE,)) -> tuple[str, str]:
        """What a user-facing grant does when it succeeds: (access token, refresh token)."""
        registered = await self.services.clients.get_client(client["client_id"])
        issued, _family = await self.services.refresh_tokens.issue_tokens(
            registered, subject=subject, scope=scope, audience=audience)
        assert issued.refresh_token is not None
        return issued.access_token, issued.refresh_token


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.json()
    assert response.headers["cache-control"] == "no-store"


async def harness(settings: Settings, clock: FakeClock, root_key: str) -> AsyncIterator[Harness]:
    async with running_app(settings, clock=clock, root_key=root_key) as (client, app):
        yield Harness(http=client, services=app.state.services, clock=clock)


# Fixtures for the grant tests: a module imports them by name (`from grant_harness import kp,
# real_time`); `real_time` is autouse there, so it applies to that module only.
@pytest.fixture
async def kp(settings: Settings, clock: FakeClock, root_key: str) -> AsyncIterator[Harness]:
    async for h in harness(settings, clock, root_key):
        yield h


@pytest.fixture(autouse=True)
def real_time(clock: FakeClock) -> None:
    """The fake clock at the real time: DPoP proofs, assertions and JWTs the test builds carry
    real `iat`s."""
    clock.set(datetime.now(UTC).replace(microsecond=0))
