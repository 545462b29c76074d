"""Hostile credentials sent to an API protected by the SDK: whatever a caller sends is an
AuthError (401 invalid_token), from `verify`, `verify_sync` and every integration, never an
exception that the app would turn into a 500."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import pytest
from jose.jose_keys import keys_for

from keyplane import AuthError, Verifier
from keyplane.clock import FakeClock

ISSUER = "https://auth.example.com"
AUDIENCE = "https://api.example.com"
NOWHERE = "http://127.0.0.1:9"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


HOSTILE = {
    "nested header": f"{b64(b'[' * 3000)}.x.y",
    "nested header, real segments": f"{b64(b'[' * 3000)}.{b64(b'{}')}.{b64(b's' * 64)}",
    "nested payload": ".".join((b64(b'{"alg":"ES256"}'), b64(b"[" * 3000), b64(b"s" * 64))),
    "huge header": f"{b64(b'{' * 6000)}.x.y",
}


@pytest.fixture
def verifier():
    clock = FakeClock(datetime(2026, 3, 1, tzinfo=UTC))
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, api_id="api_1", root_key="r" * 40,
                        url=NOWHERE, clock=clock, timeout_seconds=0.5, realm="documents")
    verifier.jwks.install(keys_for("ES256"), clock.now().timestamp())
    verifier.revocations.apply([], started_at=clock.now().timestamp(), now=clock.now().timestamp())
    yield verifier
    assert not verifier._engine.running, "no I/O was expected"
    verifier.close()


def assert_invalid_token(error: AuthError) -> None:
    assert error.status == 401 and error.error == "invalid_token"


async def test_verify_and_verify_sync_refuse_hostile_tokens_as_invalid_token(verifier, subtests):
    for name, token in HOSTILE.items():
        with subtests.test(token=name):
            with pytest.raises(AuthError) as sync:
                verifier.verify_sync(f"Bearer {token}")
            assert_invalid_token(sync.value)
            with pytest.raises(AuthError) as async_:
                await verifier.verify(f"Bearer {token}")
            assert_invalid_token(async_.value)


def test_a_credential_no_codec_can_encode_is_invalid_token(verifier):
    for credential in ("Bearer a\ud800b.c.d", "Bearer kp_at_\ud800" + "A" * 30):
        with pytest.raises(AuthError) as caught:
            verifier.verify_sync(credential)
        assert_invalid_token(caught.value)


def app_routes(verifier):
    from fastapi import Depends, FastAPI
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from keyplane.integrations import fastapi as kp_fastapi
    from keyplane.integrations.starlette import KeyplaneMiddleware

    fast = FastAPI()
    kp_fastapi.install(fast)
    guard = Depends(kp_fastapi.require(verifier))

    @fast.get("/documents")
    async def documents(principal: object = guard) -> dict[str, str]:
        return {}

    async def ok(_request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    plain = KeyplaneMiddleware(Starlette(routes=[Route("/documents", ok)]), verifier=verifier)
    return {"fastapi": fast, "starlette": plain}


async def test_the_asgi_integrations_answer_hostile_tokens_with_401(verifier, subtests):
    for framework, app in app_routes(verifier).items():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for name, token in HOSTILE.items():
                with subtests.test(framework=framework, token=name):
                    response = await http.get("/documents", headers={"Authorization": f"Bearer {token}"})
                    assert response.status_code == 401, response.text
                    assert response.json()["error"] == "invalid_token"


def test_the_flask_integration_answers_hostile_tokens_with_401(verifier, subtests):
    import flask

    from keyplane.integrations.flask import require

    app = flask.Flask("documents")

    @app.get("/documents")
    @require(verifier)
    def documents() -> str:
        return "ok"

    app.testing = True
    client = app.test_client()
    for name, token in HOSTILE.items():
        with subtests.test(token=name):
            response = client.get("/documents", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, response.text
            assert response.get_json()["error"] == "invalid_token"
