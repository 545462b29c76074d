"""Tokens built to break the decoder (JSON nested thousands deep, oversized segments, far
`exp`) are refused like any bad token, before any authentication and never with a 500."""

from __future__ import annotations

import base64
import json
import uuid
from urllib.parse import quote

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

AUDIENCE = "https://api.example.com"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jws(header: bytes, payload: bytes) -> str:
    return ".".join((b64(header), b64(payload), b64(b"s" * 64)))


def hostile_tokens() -> dict[str, str]:
    claims = b'{"iss":"cli_x","sub":"cli_x"}'
    header = b'{"alg":"ES256"}'
    return {
        "nested header": jws(b"[" * 3000, claims),
        "nested object header": jws(b'{"a":' * 1500, claims),
        "nested payload": jws(header, b"[" * 3000),
        "nested payload object": jws(header, b'{"iss":' * 1500),
        "oversized header": jws(b'{"alg":"ES256","x":"' + b"y" * 3000 + b'"}', claims),
        "invalid utf-8 header": jws(b'{"alg":"\xff\xfe"}', claims),
    }


@pytest.fixture
async def client(http):
    response = await http.post("/v1/clients", json={
        "name": "reports job", "type": "confidential", "grant_types": ["client_credentials"],
        "scopes": ["documents.read"], "audiences": [AUDIENCE], "token_format": "jwt"})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def discovery(http):
    response = await http.get("/.well-known/oauth-authorization-server", headers={"Authorization": ""})
    return response.json()


def path_of(discovery, name):
    return discovery[name].removeprefix(discovery["issuer"])


def basic(client):
    raw = f"{quote(client['client_id'], safe='')}:{quote(client['client_secret'], safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def test_hostile_tokens_are_inactive_at_introspection(http, client, discovery, subtests):
    for name, token in hostile_tokens().items():
        with subtests.test(token=name):
            for headers in (basic(client), {}):  # the root key, or the client
                response = await http.post(path_of(discovery, "introspection_endpoint"), data={"token": token},
                                           headers={**FORM, **headers})
                assert response.status_code == 200, response.text
                assert response.json() == {"active": False}


async def test_hostile_tokens_are_accepted_quietly_at_revocation(http, client, discovery, subtests):
    for name, token in hostile_tokens().items():
        with subtests.test(token=name):
            response = await http.post(path_of(discovery, "revocation_endpoint"), data={"token": token},
                                       headers={**FORM, **basic(client)})
            assert response.status_code == 200, response.text  # RFC 7009 §2.2


async def test_a_hostile_client_assertion_is_invalid_client(http, discovery, subtests):
    for name, token in hostile_tokens().items():
        with subtests.test(token=name):
            response = await http.post(path_of(discovery, "token_endpoint"), headers={"Authorization": "", **FORM},
                                       data={"grant_type": "client_credentials", "client_assertion": token,
                                             "client_assertion_type": ASSERTION_TYPE})
            assert response.status_code == 401, response.text
            assert response.json()["error"] == "invalid_client"


async def test_a_signed_client_assertion_expiring_in_year_ten_thousand_is_invalid_client(http, discovery, clock):
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid="k1", alg="ES256", use="sig")
    made = await http.post("/v1/clients", json={
        "name": "signed", "type": "confidential", "grant_types": ["client_credentials"],
        "scopes": ["documents.read"], "audiences": [AUDIENCE], "token_format": "jwt",
        "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}})
    assert made.status_code == 201, made.text
    client_id = made.json()["client_id"]
    now = int(clock.now().timestamp())
    for exp in (2 ** 52, 1e15):
        assertion = pyjwt.encode({"iss": client_id, "sub": client_id, "aud": discovery["token_endpoint"],
                                  "exp": exp, "iat": now, "jti": str(uuid.uuid4())},
                                 private, algorithm="ES256", headers={"kid": "k1"})
        response = await http.post(path_of(discovery, "token_endpoint"), headers={"Authorization": "", **FORM},
                                   data={"grant_type": "client_credentials", "client_assertion": assertion,
                                         "client_assertion_type": ASSERTION_TYPE})
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_client"
