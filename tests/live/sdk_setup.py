"""What the live verifier tests share: a keyplane with an API, keys, clients and tokens,
a transport that counts the verifier's requests, and the three integration apps."""

from __future__ import annotations

import base64
import collections
import json
from dataclasses import dataclass
from typing import Any

import httpx

AUDIENCE = "https://documents.example.com"
OTHER_AUDIENCE = "https://billing.example.com"


class CountingTransport(httpx.AsyncHTTPTransport):
    """A real transport that counts requests by path (JWKS fetches, verify calls)."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: collections.Counter[str] = collections.Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths[request.url.path] += 1
        return await super().handle_async_request(request)


@dataclass
class Keyplane:
    url: str
    root_key: str
    admin: httpx.Client
    api_id: str = ""

    def create_key(self, **fields: Any) -> dict[str, Any]:
        body = {"api_id": self.api_id, "permissions": ["documents.read"], **fields}
        response = self.admin.post("/v1/keys", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def create_client(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "reader", "type": "confidential", "grant_types": ["client_credentials"],
                "scopes": ["documents.read"], "audiences": [AUDIENCE], "token_format": "jwt", **fields}
        response = self.admin.post("/v1/clients", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def token(self, client: dict[str, Any], url: str | None = None, **params: str) -> str:
        response = httpx.post(f"{url or self.url}/oauth/token",
                              data={"grant_type": "client_credentials", **params},
                              auth=(client["client_id"], client["client_secret"]))
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def revoke_token(self, client: dict[str, Any], token: str) -> None:
        response = httpx.post(f"{self.url}/oauth/revoke", data={"token": token},
                              auth=(client["client_id"], client["client_secret"]))
        assert response.status_code == 200, response.text


def setup(url: str, root_key: str) -> Keyplane:
    kp = Keyplane(url, root_key, httpx.Client(base_url=url, timeout=10.0,
                                              headers={"Authorization": f"Bearer {root_key}"}))
    response = kp.admin.post("/v1/apis", json={"name": "documents", "key_prefix": "doc"})
    assert response.status_code == 201, response.text
    kp.api_id = response.json()["id"]
    return kp


def forged(token: str, **header: Any) -> str:
    """`token` with its JOSE header replaced (the signature no longer matches)."""
    head = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return head + token[token.index("."):]
