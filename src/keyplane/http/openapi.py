"""The OpenAPI 3.1 document: FastAPI's, plus the plain routes it cannot see (verify, the
key change stream)."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from keyplane.http.v1.verify import VerifyRequest, VerifyResponse

_REF = "#/components/schemas/{name}"


def _verify_path() -> dict[str, Any]:
    return {"post": {
        "tags": ["Keys"],
        "summary": "Verify a key",
        "operationId": "verify_key",
        "description": (
            "Always 200 for a well-formed request: `valid` and `code` say the verdict. "
            "A malformed permission query is a 400. Needs the `keys.verify` permission."
        ),
        "security": [{"HTTPBearer": []}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": _REF.format(name="VerifyRequest")}}}},
        "responses": {
            "200": {"description": "The verdict", "content": {"application/json": {
                "schema": {"$ref": _REF.format(name="VerifyResponse")}}}},
            **{str(code): {"description": text, "content": {"application/problem+json": {
                "schema": {"$ref": _REF.format(name="Problem")}}}}
               for code, text in ((400, "Malformed JSON or permission query"),
                                  (401, "No valid root key"),
                                  (403, "The root key lacks keys.verify"),
                                  (413, "Body too large"), (422, "Invalid field values"))},
        },
    }}


def _key_changes_path() -> dict[str, Any]:
    return {"get": {
        "tags": ["Keys"],
        "summary": "Follow key changes (server-sent events)",
        "operationId": "key_changes",
        "description": (
            "A `text/event-stream` for caches of verifications (the verifier SDK, "
            "docs/sdk.md): `event: ready` once subscribed, then `event: change` with "
            '`{"api_id", "key_id", "action"}` after every committed key change (`key_id` '
            "null: every key of the API), and a comment line every 10 s. When the stream "
            "ends, drop everything cached. Needs the `keys.verify` permission."
        ),
        "security": [{"HTTPBearer": []}],
        "parameters": [{"name": "api_id", "in": "query", "required": False,
                        "schema": {"type": "string"}, "description": "Only this API's changes"}],
        "responses": {
            "200": {"description": "The stream", "content": {"text/event-stream": {
                "schema": {"type": "string"}}}},
            **{str(code): {"description": text, "content": {"application/problem+json": {
                "schema": {"$ref": _REF.format(name="Problem")}}}}
               for code, text in ((400, "api_id is not an API id"), (401, "No valid root key"),
                                  (403, "The root key lacks keys.verify"),
                                  (503, "Changes cannot be followed now (Redis unreachable)"))},
        },
    }}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                                 description=app.description)
            _, components = msgspec.json.schema_components(
                [VerifyRequest, VerifyResponse], ref_template=_REF)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
            schema["paths"]["/v1/keys/verify"] = _verify_path()
            schema["paths"]["/v1/keys/changes"] = _key_changes_path()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
