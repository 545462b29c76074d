"""PostgreSQL: what one process keeps of clients and revocations follows another's changes.

Two services on one PostgreSQL database stand for two replicas; `here` keeps the client it
authenticated (store/clients.py) and the tokens it found not revoked (store/tokens.py) while
PostgreSQL tells it of every client change and revocation (store/change_notices.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from running_app import running_app


pytestmark = pytest.mark.parametrize("backend", ["postgresql"])
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def here(settings, clock, root_key) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings, clock=clock, root_key=root_key) as (client, app):
        assert app.state.services.change_listener.listening
        client.services = app.state.services  # type: ignore[attr-defined]
        yield client


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {**FORM, "Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def token(http: httpx.AsyncClient, client_id: str, secret: str) -> int:
    response = await http.post("/oauth/token", data={"grant_type": "client_credentials"},
                               headers=basic(client_id, secret))
    return response.status_code


async def within(seconds: float, check) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.02)


async def test_a_secret_rolled_on_another_replica_ends_the_old_one_here(http, here):
    client = (await http.post("/v1/clients", json={
        "name": "job", "grant_types": ["client_credentials"], "scopes": ["documents.read"],
        "audiences": ["https://api.example.com"]})).json()
    old = client["client_secret"]
    assert await token(here, client["client_id"], old) == 200  # kept here from now on
    rolled = await http.post(f"/v1/clients/{client['client_id']}/secret/roll", json={"grace_seconds": 0})
    new = rolled.json()["client_secret"]

    async def old_refused() -> bool:
        return await token(here, client["client_id"], old) == 401

    await within(2.0, old_refused)
    assert await token(here, client["client_id"], new) == 200


async def test_a_client_deleted_on_another_replica_is_refused_here(http, here):
    client = (await http.post("/v1/clients", json={
        "name": "job", "grant_types": ["client_credentials"], "scopes": ["documents.read"],
        "audiences": ["https://api.example.com"]})).json()
    assert await token(here, client["client_id"], client["client_secret"]) == 200
    assert (await http.delete(f"/v1/clients/{client['client_id']}")).status_code == 204

    async def refused() -> bool:
        return await token(here, client["client_id"], client["client_secret"]) == 401

    await within(2.0, refused)


async def _client_and_token(http):
    client = (await http.post("/v1/clients", json={
        "name": "job", "grant_types": ["client_credentials"], "scopes": ["documents.read"],
        "audiences": ["https://api.example.com"]})).json()
    issued = await http.post("/oauth/token", data={"grant_type": "client_credentials"},
                             headers=basic(client["client_id"], client["client_secret"]))
    return client, issued.json()["access_token"]


async def active(http, client, access_token) -> bool:
    response = await http.post("/oauth/introspect", data={"token": access_token},
                               headers=basic(client["client_id"], client["client_secret"]))
    assert response.status_code == 200, response.text
    return bool(response.json()["active"])


async def test_a_token_revoked_on_another_replica_is_inactive_here(http, here):
    client, access_token = await _client_and_token(http)
    assert await active(here, client, access_token) and await active(here, client, access_token)
    revoked = await http.post("/oauth/revoke", data={"token": access_token},
                              headers=basic(client["client_id"], client["client_secret"]))
    assert revoked.status_code == 200

    async def inactive() -> bool:
        return not await active(here, client, access_token)

    await within(2.0, inactive)


async def test_a_revocation_through_this_process_is_seen_at_once(here):
    client, access_token = await _client_and_token(here)
    other, other_token = await _client_and_token(here)
    assert await active(here, client, access_token) and await active(here, other, other_token)
    services = here.services
    services.change_listener._watchers = ()  # notices come too late for this
    revoked = await here.post("/oauth/revoke", data={"token": access_token},
                              headers=basic(client["client_id"], client["client_secret"]))
    assert revoked.status_code == 200 and not await active(here, client, access_token)
    assert (await here.delete(f"/v1/clients/{other['client_id']}")).status_code == 204
    introspected = await here.post("/oauth/introspect", data={"token": other_token},
                                   headers=basic(client["client_id"], client["client_secret"]))
    assert introspected.json() == {"active": False}


async def test_an_immediate_rotation_on_another_replica_is_used_and_published_here_at_once(http, here):
    # The clock stands still: without PostgreSQL's notice `here` would keep its key list
    # until a reload that never comes.
    before = (await here.get("/.well-known/jwks.json")).json()["keys"]
    rotated = await http.post("/v1/signing-keys/rotate", json={"immediate": True})
    assert rotated.status_code == 201, rotated.text
    new_kid = rotated.json()["kid"]
    assert new_kid not in {k["kid"] for k in before}

    async def published() -> bool:
        keys = (await here.get("/.well-known/jwks.json")).json()["keys"]
        return {k["kid"] for k in keys} == {new_kid}  # the old one withdrawn at once

    await within(2.0, published)
    _, access_token = await _client_and_token(here)
    assert json.loads(base64.urlsafe_b64decode(access_token.split(".")[0] + "=="))["kid"] == new_kid
