"""A service with its internals in reach (to flush usage), on either limiter: the fixtures
of the tests that meter verifications through the API (tests/keys, tests/ratelimit,
tests/usage), each of whose conftest.py imports them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from running_app import running_app

from keyplane.clock import FakeClock
from keyplane.config import Settings
from keyplane.services import Services


@dataclass
class Service:
    http: httpx.AsyncClient
    services: Services
    api_id: str

    async def key(self, **fields: Any) -> dict[str, Any]:
        response = await self.http.post("/v1/keys", json={"api_id": self.api_id, **fields})
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def verify(self, key: str, **fields: Any) -> dict[str, Any]:
        response = await self.http.post("/v1/keys/verify", json={"key": key, **fields})
        assert response.status_code == 200, response.text
        return dict(response.json())


async def serve(settings: Settings, clock: FakeClock, root_key: str) -> AsyncIterator[Service]:
    async with running_app(settings, clock=clock, root_key=root_key) as (client, app):
        api = await client.post("/v1/apis", json={"name": "metered", "key_prefix": "sk_m"})
        assert api.status_code == 201, api.text
        yield Service(http=client, services=app.state.services, api_id=api.json()["id"])


@pytest.fixture(params=["memory", "redis"])
async def service(request: pytest.FixtureRequest, settings: Settings, clock: FakeClock,
                  root_key: str) -> AsyncIterator[Service]:
    """The service with the in-memory limiter, then with Redis."""
    if request.param == "redis":
        settings = settings.model_copy(update={"redis_url": request.getfixturevalue("redis_url")})
    async for running in serve(settings, clock, root_key):
        yield running


@pytest.fixture
def start(settings: Settings, clock: FakeClock, root_key: str) -> Any:
    """Start a service with some settings changed: `async with start(redis_url=...) as s`."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def starting(**changes: Any) -> AsyncIterator[Service]:
        async for running in serve(settings.model_copy(update=changes), clock, root_key):
            yield running

    return starting


@pytest.fixture
async def embedded(settings: Settings, clock: FakeClock, root_key: str) -> AsyncIterator[Service]:
    """The service on the embedded default (in-memory limits)."""
    async for running in serve(settings, clock, root_key):
        yield running
