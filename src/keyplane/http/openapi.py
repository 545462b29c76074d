"""The OpenAPI 3.1 document: FastAPI's, plus the plain routes it cannot see (verify)."""

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


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                                 description=app.description)
            _, components = msgspec.json.schema_components(
                [VerifyRequest, VerifyResponse], ref_template=_REF)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
            schema["paths"]["/v1/keys/verify"] = _verify_path()
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
