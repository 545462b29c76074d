"""Leak reports: `POST /v1/leaks` and the signed `POST /v1/leaks/github` expose live
secrets at once through the exposure path, open `key.leaked` and fire webhooks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from running_app import running_app
from standardwebhooks import Webhook as StandardWebhook
from webhooks.receiver import Receiver

from keyplane.config import Settings


@pytest.fixture
def scanning_key(tmp_path: Path) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    path = tmp_path / "scanning-keys.json"
    path.write_text(json.dumps({"public_keys": [
        {"key_identifier": "test-key-1", "key": pem, "is_current": True}]}))
    return private, path


@pytest.fixture
async def leak_client(hook_settings: Settings, root_key: str,
                      scanning_key: tuple[ec.EllipticCurvePrivateKey, Path]) -> AsyncIterator[httpx.AsyncClient]:
    settings = hook_settings.model_copy(update={"github_scanning_keys": scanning_key[1]})
    async with running_app(settings, root_key=root_key) as (client, _):
        yield client


async def live_key(client: httpx.AsyncClient) -> dict[str, Any]:
    api = (await client.post("/v1/apis", json={"name": "docs", "key_prefix": "sk_live"})).json()
    response = await client.post("/v1/keys", json={"api_id": api["id"]})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def code(client: httpx.AsyncClient, key: str) -> str:
    return str((await client.post("/v1/keys/verify", json={"key": key})).json()["code"])


def signed(private: ec.EllipticCurvePrivateKey, body: bytes, key_id: str = "test-key-1") -> dict[str, str]:
    signature = private.sign(body, ec.ECDSA(hashes.SHA256()))
    return {"GITHUB-PUBLIC-KEY-IDENTIFIER": key_id,
            "GITHUB-PUBLIC-KEY-SIGNATURE": base64.b64encode(signature).decode(),
            "content-type": "application/json"}


async def test_a_reported_live_key_is_exposed_alerted_and_announced(
        leak_client: httpx.AsyncClient, receiver: Receiver) -> None:
    hook = (await leak_client.post("/v1/webhooks", json={"url": receiver.url,
                                                         "events": ["alert.*", "key.expose"]})).json()
    key = await live_key(leak_client)
    assert await code(leak_client, key["key"]) == "VALID"
    lookalike = key["key"][:-1] + ("A" if key["key"][-1] != "A" else "B")
    body = {"items": [{"token": key["key"], "url": "https://example.com/repo/blob/main/.env",
                       "source": "test"}, {"token": lookalike}, {"token": "not a secret"}]}
    response = await leak_client.post("/v1/leaks", json=body)
    assert response.status_code == 200, response.text
    first, second, third = response.json()["items"]
    assert first == {"token_hash": hashlib.sha256(key["key"].encode()).hexdigest(),
                     "token_type": "api_key", "label": "true_positive", "key_id": key["id"],
                     "revoked_now": True}
    assert second["label"] == third["label"] == "false_positive"
    assert await code(leak_client, key["key"]) == "REVOKED"
    [alert] = (await leak_client.get("/v1/alerts", params={"type": "key.leaked"})).json()["items"]
    assert alert["subject"] == {"kind": "key", "id": key["id"]} and alert["severity"] == "critical"
    assert alert["details"]["url"] == "https://example.com/repo/blob/main/.env"
    assert alert["details"]["report"]["key"]["id"] == key["id"]
    assert alert["details"]["report"]["activity"]["counts"] == {"VALID": 1}
    # Repeated: the same answer (but for revoked_now: it was this first report that revoked
    # the key), and nothing new happens.
    again = await leak_client.post("/v1/leaks", json=body)
    assert again.json()["items"] == [{**first, "revoked_now": False}, second, third]
    leaked = (await leak_client.get("/v1/alerts", params={"type": "key.leaked"})).json()["items"]
    assert [(a["id"], a["count"]) for a in leaked] == [(alert["id"], 1)]
    got = await asyncio.to_thread(receiver.wait_for, lambda got: {"alert.key.leaked", "key.expose"}
                                  <= {r.payload["type"] for r in got}, 5.0)
    for item in got:
        StandardWebhook(hook["secret"]).verify(item.body, item.headers)
    assert [r.payload["data"]["type"] for r in got if r.payload["type"] == "alert.key.leaked"] == ["key.leaked"]


async def test_reporting_needs_the_leaks_permission(leak_client: httpx.AsyncClient) -> None:
    limited = (await leak_client.post("/v1/root-keys", json={"name": "reader",
                                                             "permissions": ["alerts.read"]})).json()
    response = await leak_client.post("/v1/leaks", json={"items": [{"token": "x"}]},
                                      headers={"Authorization": f"Bearer {limited['key']}"})
    assert response.status_code == 403
    assert (await leak_client.post("/v1/leaks", json={"items": []})).status_code == 422


async def test_a_signed_github_report_exposes_a_live_key(
        leak_client: httpx.AsyncClient, scanning_key: tuple[ec.EllipticCurvePrivateKey, Path]) -> None:
    key = await live_key(leak_client)
    body = json.dumps([{"token": key["key"], "type": "keyplane_api_key",
                        "url": "https://github.com/o/r/blob/abc/config.py", "source": "content"}]).encode()
    response = await leak_client.post("/v1/leaks/github", content=body,
                                      headers={**signed(scanning_key[0], body), "Authorization": ""})
    assert response.status_code == 200, response.text
    assert response.json() == [{"token_hash": hashlib.sha256(key["key"].encode()).hexdigest(),
                                "token_type": "keyplane_api_key", "label": "true_positive"}]
    assert await code(leak_client, key["key"]) == "REVOKED"
    [alert] = (await leak_client.get("/v1/alerts", params={"type": "key.leaked"})).json()["items"]
    assert alert["details"]["url"] == "https://github.com/o/r/blob/abc/config.py"
    repeat = await leak_client.post("/v1/leaks/github", content=body, headers=signed(scanning_key[0], body))
    assert repeat.json() == response.json()


async def test_a_forged_or_missing_github_signature_is_401_and_the_key_still_works(
        leak_client: httpx.AsyncClient, scanning_key: tuple[ec.EllipticCurvePrivateKey, Path]) -> None:
    key = await live_key(leak_client)
    body = json.dumps([{"token": key["key"], "type": "t", "url": "u", "source": "s"}]).encode()
    forger = ec.generate_private_key(ec.SECP256R1())
    cases = [{}, signed(forger, body), signed(scanning_key[0], body, key_id="unknown"),
             signed(scanning_key[0], body + b" "),
             {**signed(scanning_key[0], body), "GITHUB-PUBLIC-KEY-SIGNATURE": "!!not base64!!"}]
    for headers in cases:
        response = await leak_client.post("/v1/leaks/github", content=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await code(leak_client, key["key"]) == "VALID"
    assert (await leak_client.get("/v1/alerts")).json()["items"] == []


async def test_a_reported_refresh_token_family_and_client_secret_stop_working(
        leak_client: httpx.AsyncClient) -> None:
    created = await leak_client.post("/v1/clients", json={
        "name": "svc", "type": "confidential", "grant_types": ["client_credentials"],
        "redirect_uris": [], "scopes": ["read"], "audiences": ["https://api.example"],
        "token_format": "jwt"})
    assert created.status_code == 201, created.text
    client = created.json()
    response = await leak_client.post("/v1/leaks", json={"items": [{"token": client["client_secret"]}]})
    [answer] = response.json()["items"]
    assert answer["token_type"] == "client_secret" and answer["label"] == "true_positive"
    assert answer["key_id"] == client["client_id"]
    metadata = (await leak_client.get("/.well-known/oauth-authorization-server")).json()
    token = await leak_client.post(metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                                   auth=(client["client_id"], client["client_secret"]))
    assert token.status_code == 401, token.text
    [alert] = (await leak_client.get("/v1/alerts", params={"type": "key.leaked"})).json()["items"]
    assert alert["subject"] == {"kind": "client", "id": client["client_id"]}
