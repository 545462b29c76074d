"""`/v1/signing-keys`: the keys that sign access tokens, and their rotation."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, Field

from keyplane.clock import rfc3339
from keyplane.http.auth import require
from keyplane.http.context import services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import Strict, Time
from keyplane.keys.root_keys import Caller
from keyplane.oauth.model import SigningKeyInfo

router = APIRouter(prefix="/v1/signing-keys", tags=["Signing keys"], responses=ERRORS)


class RotateRequest(Strict):
    immediate: bool = Field(
        default=False,
        description="For a compromised key: the new key signs at once, and the current key "
                    "is withdrawn from the JWKS at once (tokens it signed stop verifying).")


class SigningKeyOut(BaseModel):
    kid: str
    alg: str
    status: Literal["pending", "active", "retired", "withdrawn"]
    created_at: Time
    activates_at: Time
    retires_at: Time | None
    withdrawn_at: Time | None


class SigningKeyList(BaseModel):
    items: list[SigningKeyOut]


def signing_key_to_wire(key: SigningKeyInfo) -> dict[str, Any]:
    return {"kid": key.kid, "alg": key.alg, "status": key.status,
            "created_at": rfc3339(key.created_at), "activates_at": rfc3339(key.activates_at),
            "retires_at": rfc3339(key.retires_at), "withdrawn_at": rfc3339(key.withdrawn_at)}


@router.get("", response_model=SigningKeyList, summary="List signing keys",
            description="Every key, newest first: `pending` (published ahead, not signing "
                        "yet), `active` (signing), `retired` (published until the tokens it "
                        "signed have expired), `withdrawn` (removed by an immediate rotation).")
async def list_signing_keys(request: Request,
                            _: Caller = Depends(require("signing_keys.read"))) -> dict[str, Any]:
    keys = await services_of(request).signing_keys.list_keys()
    return {"items": [signing_key_to_wire(k) for k in keys]}


@router.post("/rotate", status_code=201, response_model=SigningKeyOut, summary="Rotate the signing key",
             description="Makes the next key. It is published at once and signs after the "
                         "publish-ahead period; with `immediate`, it signs at once. 409 when "
                         "a key is already published ahead (unless `immediate`).")
async def rotate_signing_key(request: Request, body: RotateRequest | None = Body(default=None),
                             caller: Caller = Depends(require("signing_keys.write"))) -> dict[str, Any]:
    immediate = body.immediate if body is not None else False
    created = await services_of(request).signing_keys.rotate(caller.actor, immediate=immediate)
    return signing_key_to_wire(created)
