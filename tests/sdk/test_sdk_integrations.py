"""The adapters without a keyplane: what they answer before any call would be needed (the
full behaviour against a live keyplane is in tests/live/test_live_integrations.py)."""

from __future__ import annotations

import httpx
import pytest

from keyplane import Verifier
from keyplane.credentials.format import generate_key

NOWHERE = "http://127.0.0.1:9"


@pytest.fixture
def verifier():
    verifier = Verifier(issuer=NOWHERE, audience="https://api.example.com", api_id="api_1",
                        root_key="r" * 40, realm="documents")
    yield verifier
    assert not verifier._engine.running, "nothing here needs keyplane"
    verifier.close()


def test_the_fastapi_dependency_declares_bearer_and_x_api_key_in_openapi(verifier):
    from fastapi import Depends, FastAPI

    from keyplane.integrations.fastapi import require

    app = FastAPI()
    guard = Depends(require(verifier, scopes=["documents.read"]))

    @app.get("/documents")
    async def documents(principal: object = guard) -> dict[str, str]:
        return {}

    doc = app.openapi()
    assert set(doc["components"]["securitySchemes"]) == {"HTTPBearer", "APIKeyHeader"}
    assert doc["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert "parameters" not in doc["paths"]["/documents"]["get"]  # nothing leaks as a query


async def test_the_fastapi_dependency_answers_rfc_6750_with_or_without_install(verifier):
    from fastapi import Depends, FastAPI

    from keyplane.integrations.fastapi import install, require

    for installed in (False, True):
        app = FastAPI()
        if installed:
            install(app)
        guard = Depends(require(verifier))

        @app.get("/documents")
        async def documents(principal: object = guard) -> dict[str, str]:
            return {}

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/documents", headers={"X-API-Key": "doc_mistyped"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith('Bearer realm="documents", error="invalid_token"')
        body = response.json()
        assert (body if installed else body["detail"])["error"] == "invalid_token"


async def test_the_starlette_middleware_lets_excluded_paths_and_lifespan_through(verifier):
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from keyplane.integrations.starlette import KeyplaneMiddleware

    async def ok(_request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = KeyplaneMiddleware(Starlette(routes=[Route("/healthz", ok), Route("/documents", ok)]),
                             verifier=verifier, exclude=("/healthz",), x_api_key=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/healthz")).text == "ok"
        refused = await http.get("/documents", headers={"X-API-Key": generate_key("doc")})
    # X-API-Key is not read when the app says so: this request has no credential.
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="documents"'
    assert refused.headers["cache-control"] == "no-store"
    assert refused.json()["error"] == "invalid_request"


def test_the_flask_decorator_refuses_with_a_json_body(verifier):
    import flask

    from keyplane.integrations.flask import require

    app = flask.Flask("t")

    @app.get("/documents")
    @require(verifier, scopes=["documents.read"])
    def documents() -> str:
        return "never"

    response = app.test_client().get("/documents", headers={"Authorization": "Bearer a b"})
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid_request",
                                   "error_description": "the Authorization header must be 'Bearer <credential>'"}
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def test_a_malformed_permission_query_fails_when_the_app_is_built(verifier):
    from keyplane.errors import Invalid
    from keyplane.integrations import fastapi, flask, starlette

    for build in (lambda: fastapi.require(verifier, permissions="a AND"),
                  lambda: flask.require(verifier, permissions="(a"),
                  lambda: starlette.KeyplaneMiddleware(None, verifier=verifier, permissions="OR")):
        with pytest.raises(Invalid):
            build()
