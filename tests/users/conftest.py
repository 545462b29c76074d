"""Fixtures of the users and browser tests: the app's services beside the root-key client,
and a cookie-keeping browser on the same app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from running_app import running_app

from keyplane.clock import FakeClock
from keyplane.config import Settings
from keyplane.services import Services


@pytest.fixture
async def app_services(settings: Settings, clock: FakeClock,
                       root_key: str) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    async with running_app(settings, clock=clock, root_key=root_key) as (client, app):
        yield client, app.state.services


@pytest.fixture
def http(app_services: tuple[httpx.AsyncClient, Services]) -> httpx.AsyncClient:
    """As the suite's `http` (a root key holding `*`), on an app whose services we hold."""
    return app_services[0]


@pytest.fixture
def services(app_services: tuple[httpx.AsyncClient, Services]) -> Services:
    """The app's services (to flush the batched audit log)."""
    return app_services[1]


@pytest.fixture
async def browser(http: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A browser: no root key, keeps cookies, does not follow redirects by itself."""
    async with httpx.AsyncClient(transport=http._transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def make_root_key(http: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def make(*permissions: str) -> dict[str, Any]:
        response = await http.post("/v1/root-keys", json={"name": "limited", "permissions": list(permissions)})
        assert response.status_code == 201, response.text
        return dict(response.json())
    return make
