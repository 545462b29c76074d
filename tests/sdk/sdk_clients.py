"""A client and its token, made through the HTTP API, for the SDK tests."""

from __future__ import annotations

from typing import Any

import httpx

AUDIENCE = "https://documents.example.com"


async def client_and_token(http: httpx.AsyncClient) -> tuple[dict[str, Any], str]:
    """A confidential client_credentials client for AUDIENCE, and a JWT it was issued."""
    client = (await http.post("/v1/clients", json={
        "name": "reader", "type": "confidential", "grant_types": ["client_credentials"],
        "scopes": ["documents.read"], "audiences": [AUDIENCE], "token_format": "jwt"})).json()
    answer = await http.post("/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(client["client_id"], client["client_secret"]), headers={"Authorization": ""})
    assert answer.status_code == 200, answer.text
    return client, answer.json()["access_token"]
