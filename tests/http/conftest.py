"""Fixtures of the HTTP contract tests: limited root keys and the fixture root key's id."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

MakeRootKey = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def make_root_key(http: httpx.AsyncClient) -> MakeRootKey:
    """Create a root key with the given permissions (through the API, as the `*` root key)."""

    async def make(*permissions: str, name: str = "limited") -> dict[str, Any]:
        response = await http.post("/v1/root-keys", json={"name": name, "permissions": list(permissions)})
        assert response.status_code == 201, response.text
        return dict(response.json())

    return make


@pytest.fixture
async def root_key_id(http: httpx.AsyncClient) -> str:
    """The id of the fixture's root key (KEYPLANE_ROOT_KEY)."""
    response = await http.get("/v1/root-keys")
    assert response.status_code == 200, response.text
    [found] = [k for k in response.json()["items"] if k["name"] == "KEYPLANE_ROOT_KEY"]
    return str(found["id"])
