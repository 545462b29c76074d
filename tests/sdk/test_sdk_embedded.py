"""The verifier in keyplane's own process (`services=`) and beside it on the same store
(`settings=`): exact answers from the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sdk_clients import AUDIENCE, client_and_token

from keyplane import AuthError, Verifier
from keyplane.app import create_app


@pytest.fixture
async def service(settings, clock, root_key):
    clock.set(datetime.now(UTC).replace(microsecond=0))  # tokens carry real times
    app = create_app(settings, clock=clock)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     headers={"Authorization": f"Bearer {root_key}"}) as http:
            yield http, app.state.services


async def _setup(http):
    api = (await http.post("/v1/apis", json={"name": "documents", "key_prefix": "doc"})).json()
    key = (await http.post("/v1/keys", json={"api_id": api["id"], "owner_id": "team_1",
                                             "permissions": ["documents.read"]})).json()
    client, token = await client_and_token(http)
    return api, key, client, token


async def test_embedded_with_services_is_exact_for_keys_and_tokens(service):
    http, services = service
    api, key, client, token = await _setup(http)
    verifier = Verifier(services=services, audience=AUDIENCE, api_id=api["id"])
    principal = await verifier.verify(f"Bearer {key['key']}", permissions="documents.read")
    assert (principal.kind, principal.subject, principal.key_id) == ("api_key", "team_1", key["id"])
    assert (await verifier.verify(f"Bearer {token}")).client_id == client["client_id"]

    assert (await http.post(f"/v1/keys/{key['id']}/revoke")).status_code == 200
    with pytest.raises(AuthError) as caught:
        await verifier.verify(f"Bearer {key['key']}")
    assert caught.value.description == "the API key was revoked"

    revoked = await http.post("/oauth/revoke", data={"token": token},
                              auth=(client["client_id"], client["client_secret"]), headers={"Authorization": ""})
    assert revoked.status_code == 200
    with pytest.raises(AuthError) as caught:
        await verifier.verify(f"Bearer {token}")
    assert caught.value.description == "the access token was revoked"  # at once: no feed to wait for
    with pytest.raises(RuntimeError):
        verifier.verify_sync(f"Bearer {token}")


async def test_embedded_with_settings_opens_the_store_beside_the_service(service, settings, clock):
    http, _ = service
    api, key, _client, token = await _setup(http)
    verifier = Verifier(settings=settings, audience=AUDIENCE, api_id=api["id"], clock=clock)
    try:
        principal = await asyncio.to_thread(verifier.verify_sync, f"Bearer {key['key']}")
        assert principal.key_id == key["id"]
        assert (await verifier.verify(f"Bearer {token}")).kind == "access_token"
        assert (await http.patch(f"/v1/keys/{key['id']}", json={"enabled": False})).status_code == 200
        with pytest.raises(AuthError) as caught:
            await asyncio.to_thread(verifier.verify_sync, f"Bearer {key['key']}")
        assert caught.value.description == "the API key is disabled"
    finally:
        await verifier.aclose()
