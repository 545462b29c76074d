"""Fixtures: the app on the system clock with webhooks allowed to reach 127.0.0.1, fast
flushes and retries, and a real receiver subscribed to every event."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from webhooks.receiver import Receiver, receiving
from running_app import running_app

from keyplane.config import Settings


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "webhooks_allow_private": True, "webhook_retry_base_seconds": 0.2,
        "webhook_poll_seconds": 0.1, "usage_flush_seconds": 0.2, "webhook_timeout_seconds": 2.0})


@pytest.fixture
async def app_client(hook_settings: Settings, root_key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(hook_settings, root_key=root_key) as (client, _):
        yield client


@pytest.fixture
async def subscribed(app_client: httpx.AsyncClient, receiver: Receiver) -> dict[str, Any]:
    """A webhook to the receiver for every event; its answer holds the secret."""
    response = await app_client.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"]})
    assert response.status_code == 201, response.text
    return dict(response.json())
