"""RFC 7662 §4: introspection tells a token's details only to the client it was issued to,
to a client registered for the token's audience (its resource server), or to a root key
with `tokens.introspect`; to any other client the token is inactive."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

AUDIENCE = "https://api.example.com"
OTHER_AUDIENCE = "https://reports.example.com"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def make_client(http, audiences, **fields):
    response = await http.post("/v1/clients", json={
        "name": "job", "type": "confidential", "grant_types": ["client_credentials"],
        "scopes": ["documents.read"], "audiences": audiences, "token_format": "jwt", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def basic(client):
    raw = f"{quote(client['client_id'], safe='')}:{quote(client['client_secret'], safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def token_of(http, client):
    response = await http.post("/oauth/token", data={"grant_type": "client_credentials"},
                               headers={**FORM, **basic(client)})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def introspect(http, token, headers):
    response = await http.post("/oauth/introspect", data={"token": token}, headers={**FORM, **headers})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("token_format", ["jwt", "opaque"])
async def test_only_the_owner_its_resource_server_or_a_root_key_see_a_token(http, token_format):
    owner = await make_client(http, [AUDIENCE], token_format=token_format)
    stranger = await make_client(http, [OTHER_AUDIENCE])
    resource_server = await make_client(http, [OTHER_AUDIENCE, AUDIENCE])
    token = await token_of(http, owner)

    assert await introspect(http, token, basic(stranger)) == {"active": False}
    for allowed in (basic(owner), basic(resource_server), {}):  # {}: the fixture's root key
        seen = await introspect(http, token, allowed)
        assert seen["active"] is True and seen["client_id"] == owner["client_id"]
    introspector = await http.post("/v1/root-keys", json={"name": "gateway", "permissions": ["tokens.introspect"]})
    seen = await introspect(http, token, {"Authorization": f"Bearer {introspector.json()['key']}"})
    assert seen["active"] is True and seen["sub"] == owner["client_id"]
