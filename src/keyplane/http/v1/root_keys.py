"""`/v1/root-keys`: more keys for the management API, each with its own permissions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from keyplane.clock import rfc3339
from keyplane.http.auth import require
from keyplane.http.context import services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import Name, Strict, Time, dedupe
from keyplane.http.v1.paging import ListOf, PageParams, render_page
from keyplane.keys.model import StoredKey
from keyplane.keys.root_keys import Caller, bound_api_id

router = APIRouter(prefix="/v1/root-keys", tags=["Root keys"], responses=ERRORS)


class RootKeyCreate(Strict):
    name: Name
    permissions: list[str] = Field(min_length=1, max_length=50)
    api_id: str | None = Field(default=None, max_length=64, description=(
        "Bind the key to this API: it then reaches only this API's keys (verify, keys, "
        "usage) and holds only keys.* and tokens.* permissions. For an API's SDK: "
        "`keys.verify` bound to that API."))


class RootKeyOut(BaseModel):
    id: str
    name: str | None
    start: str
    permissions: list[str]
    api_id: str | None = Field(description="The API this key is bound to; null: every API")
    created_at: Time


class IssuedRootKeyOut(RootKeyOut):
    key: str = Field(description="The root key itself: shown only in this response")


def root_key_to_wire(key: StoredKey) -> dict[str, Any]:
    return {"id": key.id, "name": key.config.name, "start": key.start,
            "permissions": list(key.config.permissions), "api_id": bound_api_id(key),
            "created_at": rfc3339(key.created_at)}


@router.post("", status_code=201, response_model=IssuedRootKeyOut, summary="Create a root key",
             description="It can hold no permission the calling root key lacks; with `api_id` "
                         "it reaches that API's keys alone.")
async def create_root_key(body: RootKeyCreate, request: Request,
                          caller: Caller = Depends(require("root_keys.write"))) -> dict[str, Any]:
    issued = await services_of(request).root_keys.create(caller, body.name, dedupe(body.permissions),
                                                         api_id=body.api_id)
    return {**root_key_to_wire(issued.stored), "key": issued.key}


@router.get("", response_model=ListOf[RootKeyOut], summary="List root keys")
async def list_root_keys(request: Request, _: Caller = Depends(require("root_keys.read")),
                         page: PageParams = Depends()) -> dict[str, Any]:
    found = await services_of(request).root_keys.list(after=page.after, limit=page.limit)
    return render_page(found, root_key_to_wire)


@router.get("/{key_id}", response_model=RootKeyOut, summary="Get a root key")
async def get_root_key(key_id: str, request: Request,
                       _: Caller = Depends(require("root_keys.read"))) -> dict[str, Any]:
    return root_key_to_wire(await services_of(request).root_keys.get(key_id))


@router.delete("/{key_id}", status_code=204, summary="Delete a root key",
               description="The key stops working at once. 403 unless the calling root key "
                           "holds every permission of it.")
async def delete_root_key(key_id: str, request: Request,
                          caller: Caller = Depends(require("root_keys.write"))) -> Response:
    await services_of(request).root_keys.delete(caller, key_id)
    return Response(status_code=204)
