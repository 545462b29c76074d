"""`/v1/apis`: the APIs keys belong to, and their roles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from keyplane.clock import rfc3339
from keyplane.http.auth import require
from keyplane.http.context import services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import KeyPrefix, Name, Permission, Strict, Time, dedupe
from keyplane.http.v1.paging import ListOf, PageParams, render_page
from keyplane.keys.model import Api, Role
from keyplane.keys.root_keys import Caller

router = APIRouter(prefix="/v1/apis", tags=["APIs"], responses=ERRORS)

# Checked by the service: an impossible name is a 404 on GET/DELETE and a 422 on PUT.
RoleNamePath = Annotated[str, Path(description="A dotted name such as `editor` or `docs.reader`")]


RotationDays = Annotated[int, Field(ge=1, le=3650, description="Keys older than this many days "
                                    "open a `key.rotation_due` alert")]


class ApiCreate(Strict):
    name: Name
    key_prefix: KeyPrefix | None = None
    rotation_days: RotationDays | None = None


class ApiPatch(Strict):
    rotation_days: RotationDays | None


class ApiOut(BaseModel):
    id: str
    name: str
    key_prefix: str
    created_at: Time
    rotation_days: int | None


class RolePut(Strict):
    permissions: list[Permission] = Field(max_length=100)


class RoleOut(BaseModel):
    api_id: str
    name: str
    permissions: list[str]
    created_at: Time
    updated_at: Time


def api_to_wire(api: Api) -> dict[str, Any]:
    return {"id": api.id, "name": api.name, "key_prefix": api.key_prefix,
            "created_at": rfc3339(api.created_at), "rotation_days": api.rotation_days}


def role_to_wire(role: Role) -> dict[str, Any]:
    return {"api_id": role.api_id, "name": role.name, "permissions": list(role.permissions),
            "created_at": rfc3339(role.created_at), "updated_at": rfc3339(role.updated_at)}


@router.post("", status_code=201, response_model=ApiOut, summary="Create an API")
async def create_api(body: ApiCreate, request: Request,
                     caller: Caller = Depends(require("apis.write"))) -> dict[str, Any]:
    api = await services_of(request).apis.create_api(caller.actor, body.name, body.key_prefix,
                                                     body.rotation_days)
    return api_to_wire(api)


@router.patch("/{api_id}", response_model=ApiOut, summary="Change an API's rotation policy",
              description="`rotation_days: null` drops the policy.")
async def update_api(api_id: str, body: ApiPatch, request: Request,
                     caller: Caller = Depends(require("apis.write"))) -> dict[str, Any]:
    api = await services_of(request).apis.set_rotation(caller.actor, api_id, body.rotation_days)
    return api_to_wire(api)


@router.get("", response_model=ListOf[ApiOut], summary="List APIs")
async def list_apis(request: Request, _: Caller = Depends(require("apis.read")),
                    page: PageParams = Depends()) -> dict[str, Any]:
    found = await services_of(request).apis.list_apis(after=page.after, limit=page.limit)
    return render_page(found, api_to_wire)


@router.get("/{api_id}", response_model=ApiOut, summary="Get an API")
async def get_api(api_id: str, request: Request,
                  _: Caller = Depends(require("apis.read"))) -> dict[str, Any]:
    return api_to_wire(await services_of(request).apis.get_api(api_id))


@router.delete("/{api_id}", status_code=204, summary="Delete an API",
               description="409 while the API has keys, unless `force=true`, which deletes them too.")
async def delete_api(api_id: str, request: Request, force: Annotated[bool, Query()] = False,
                     caller: Caller = Depends(require("apis.write"))) -> Response:
    await services_of(request).apis.delete_api(caller.actor, api_id, force=force)
    return Response(status_code=204)


@router.put("/{api_id}/roles/{name}", response_model=RoleOut, summary="Create or replace a role",
            description="A role grants its permissions to every key of the API that holds it.")
async def put_role(api_id: str, name: RoleNamePath, body: RolePut, request: Request,
                   caller: Caller = Depends(require("apis.write"))) -> dict[str, Any]:
    role = await services_of(request).apis.put_role(caller.actor, api_id, name,
                                                    dedupe(body.permissions))
    return role_to_wire(role)


@router.get("/{api_id}/roles", response_model=ListOf[RoleOut], summary="List an API's roles")
async def list_roles(api_id: str, request: Request,
                     _: Caller = Depends(require("apis.read"))) -> dict[str, Any]:
    roles = await services_of(request).apis.list_roles(api_id)
    return {"items": [role_to_wire(r) for r in roles], "next_cursor": None}


@router.get("/{api_id}/roles/{name}", response_model=RoleOut, summary="Get a role")
async def get_role(api_id: str, name: RoleNamePath, request: Request,
                   _: Caller = Depends(require("apis.read"))) -> dict[str, Any]:
    return role_to_wire(await services_of(request).apis.get_role(api_id, name))


@router.delete("/{api_id}/roles/{name}", status_code=204, summary="Delete a role",
               description="409 while a key holds the role.")
async def delete_role(api_id: str, name: RoleNamePath, request: Request,
                      caller: Caller = Depends(require("apis.write"))) -> Response:
    await services_of(request).apis.delete_role(caller.actor, api_id, name)
    return Response(status_code=204)
