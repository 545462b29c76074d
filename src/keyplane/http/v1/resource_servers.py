"""`/v1/resource-servers`: APIs whose JWT access tokens are encrypted to their own key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from keyplane.clock import rfc3339
from keyplane.errors import FieldError, Invalid
from keyplane.http.auth import require
from keyplane.http.context import services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import Strict, Time
from keyplane.http.v1.paging import ListOf, PageParams, render_page
from keyplane.keys.root_keys import Caller
from keyplane.oauth.client_metadata import MAX_URI_LENGTH
from keyplane.oauth.resource_servers import ResourceServer

router = APIRouter(prefix="/v1/resource-servers", tags=["Resource servers"], responses=ERRORS)

_JWK_DESCRIPTION = ("The API's public encryption key as a JWK: RSA (2048 bits or more, "
                    "alg RSA-OAEP-256) or EC on P-256/P-384/P-521 (alg ECDH-ES+A256KW). "
                    "Never a private key.")


class ResourceServerCreate(Strict):
    audience: str = Field(max_length=MAX_URI_LENGTH, description=(
        "The `aud` of its tokens: an absolute URI, as clients list it in `audiences`."))
    encryption_jwk: dict[str, Any] = Field(description=_JWK_DESCRIPTION)


class ResourceServerPatch(Strict):
    audience: str | None = Field(default=None, max_length=MAX_URI_LENGTH)
    encryption_jwk: dict[str, Any] | None = Field(default=None, description=_JWK_DESCRIPTION)


class ResourceServerOut(BaseModel):
    id: str
    audience: str
    encryption_jwk: dict[str, Any]
    token_encryption: dict[str, str] = Field(description=(
        "How its tokens are encrypted: `alg` (key management) and `enc` (A256GCM)."))
    created_at: Time
    updated_at: Time


def server_to_wire(server: ResourceServer) -> dict[str, Any]:
    return {
        "id": server.id, "audience": server.audience, "encryption_jwk": server.encryption_jwk,
        "token_encryption": {"alg": server.encryption_jwk["alg"], "enc": "A256GCM"},
        "created_at": rfc3339(server.created_at), "updated_at": rfc3339(server.updated_at),
    }


@router.post("", status_code=201, response_model=ResourceServerOut,
             summary="Register a resource server",
             description="From then on, JWT access tokens for its audience are nested JWTs: "
                         "signed, then encrypted to its key (A256GCM, cty JWT).")
async def create_resource_server(body: ResourceServerCreate, request: Request,
                                 caller: Caller = Depends(require("resource_servers.write"))
                                 ) -> dict[str, Any]:
    server = await services_of(request).resource_servers.create(
        caller.actor, body.audience, body.encryption_jwk)
    return server_to_wire(server)


@router.get("", response_model=ListOf[ResourceServerOut], summary="List resource servers")
async def list_resource_servers(request: Request,
                                _: Caller = Depends(require("resource_servers.read")),
                                page: PageParams = Depends()) -> dict[str, Any]:
    found = await services_of(request).resource_servers.list(after=page.after, limit=page.limit)
    return render_page(found, server_to_wire)


@router.get("/{server_id}", response_model=ResourceServerOut, summary="Get a resource server")
async def get_resource_server(server_id: str, request: Request,
                              _: Caller = Depends(require("resource_servers.read"))) -> dict[str, Any]:
    return server_to_wire(await services_of(request).resource_servers.get(server_id))


@router.patch("/{server_id}", response_model=ResourceServerOut,
              summary="Update a resource server",
              description="A new `encryption_jwk` applies to tokens issued from then on.")
async def update_resource_server(server_id: str, body: ResourceServerPatch, request: Request,
                                 caller: Caller = Depends(require("resource_servers.write"))
                                 ) -> dict[str, Any]:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    nulls = [FieldError(name, "cannot be null") for name, value in changes.items() if value is None]
    if nulls:
        raise Invalid(nulls)
    server = await services_of(request).resource_servers.update(caller.actor, server_id, changes)
    return server_to_wire(server)


@router.delete("/{server_id}", status_code=204, summary="Delete a resource server",
               description="Tokens issued from then on are signed JWTs, no longer encrypted.")
async def delete_resource_server(server_id: str, request: Request,
                                 caller: Caller = Depends(require("resource_servers.write"))
                                 ) -> Response:
    await services_of(request).resource_servers.delete(caller.actor, server_id)
    return Response(status_code=204)
