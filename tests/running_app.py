"""The service app with its lifespan running, and an HTTP client on it: what most fixtures
that need more than conftest's `http` (other settings, the app's services) start from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_lifespan import LifespanManager

from keyplane.app import create_app
from keyplane.clock import Clock
from keyplane.config import Settings
from keyplane.http.hot_paths import ServiceApp


@asynccontextmanager
async def running_app(settings: Settings, *, clock: Clock | None = None, root_key: str | None = None,
                      base_url: str = "http://testserver",
                      ) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceApp]]:
    """`(client, app)`: the app started (stores open, migrations run, background work on),
    the client sending `root_key` as a Bearer token on every request when one is given."""
    app = create_app(settings, clock=clock)
    headers = {"Authorization": f"Bearer {root_key}"} if root_key is not None else {}
    async with LifespanManager(app) as manager, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url=base_url,
            headers=headers) as client:
        yield client, app
