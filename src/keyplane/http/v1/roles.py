"""`/v1/roles`: roles of people — the scopes they restrict (docs/users.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, Field

from keyplane.clock import rfc3339
from keyplane.http.auth import require
from keyplane.http.context import services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import Strict, Time
from keyplane.http.v1.paging import ListOf
from keyplane.keys.root_keys import Caller
from keyplane.oauth.client_metadata import MAX_SCOPE_LENGTH
from keyplane.users.model import ScopeRole
from keyplane.users.service import MAX_ROLE_SCOPES

router = APIRouter(prefix="/v1/roles", tags=["Users"], responses=ERRORS)

RoleNamePath = Annotated[str, Path(description="A dotted name such as `admin` or `docs.editor`")]
Scope = Annotated[str, Field(max_length=MAX_SCOPE_LENGTH)]


class RolePut(Strict):
    scopes: list[Scope] = Field(max_length=MAX_ROLE_SCOPES, description=(
        "Scopes granted only to users holding a role that names them."))


class RoleOut(BaseModel):
    name: str
    scopes: list[str]
    created_at: Time
    updated_at: Time


def role_to_wire(role: ScopeRole) -> dict[str, Any]:
    return {"name": role.name, "scopes": list(role.scopes), "created_at": rfc3339(role.created_at),
            "updated_at": rfc3339(role.updated_at)}


@router.put("/{name}", response_model=RoleOut, summary="Create or replace a role")
async def put_role(name: RoleNamePath, body: RolePut, request: Request,
                   caller: Caller = Depends(require("users.write"))) -> dict[str, Any]:
    return role_to_wire(await services_of(request).users.put_role(caller.actor, name, body.scopes))


@router.get("", response_model=ListOf[RoleOut], summary="List roles")
async def list_roles(request: Request, _: Caller = Depends(require("users.read"))) -> dict[str, Any]:
    roles = await services_of(request).users.list_roles()
    return {"items": [role_to_wire(r) for r in roles], "next_cursor": None}


@router.get("/{name}", response_model=RoleOut, summary="Get a role")
async def get_role(name: RoleNamePath, request: Request,
                   _: Caller = Depends(require("users.read"))) -> dict[str, Any]:
    return role_to_wire(await services_of(request).users.get_role(name))


@router.delete("/{name}", status_code=204, summary="Delete a role",
               description="409 while users hold it.")
async def delete_role(name: RoleNamePath, request: Request,
                      caller: Caller = Depends(require("users.write"))) -> Response:
    await services_of(request).users.delete_role(caller.actor, name)
    return Response(status_code=204)
