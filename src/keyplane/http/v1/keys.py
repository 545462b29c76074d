"""`/v1/keys`: the life of an API key (verification is in verify.py, the hot path)."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field, field_validator, model_validator
from starlette.exceptions import HTTPException

from keyplane.clock import Clock, rfc3339
from keyplane.errors import Invalid
from keyplane.http.auth import require, require_key_in_reach
from keyplane.http.context import services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import (
    ExternalId,
    IdFilter,
    Metadata,
    Name,
    Network,
    OwnerParam,
    Permission,
    RoleName,
    Strict,
    Time,
    Timestamp,
    dedupe,
)
from keyplane.http.v1.paging import ListOf, PageParams, render_page
from keyplane.keys.model import Credits, KeyConfig, RateLimit, Refill, StoredKey
from keyplane.keys.root_keys import Caller

router = APIRouter(prefix="/v1/keys", tags=["Keys"], responses=ERRORS)

MAX_TTL_SECONDS = 100 * 365 * 86400
MAX_COUNT = 2**53  # what every JSON client can hold exactly


class RateLimitIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    limit: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    window_seconds: Annotated[int, Field(ge=1, le=366 * 86400)]
    scope: Literal["key", "owner"] = "key"
    fail_open: bool = Field(default=True, description=(
        "When the shared limiter (Redis) cannot be reached: skip this limit (true) or refuse "
        "the verification as RATE_LIMITED (false)."))


class RefillIn(Strict):
    amount: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    interval: Literal["daily", "monthly"] | None = None
    interval_seconds: Annotated[int, Field(ge=1, le=366 * 86400)] | None = None

    @model_validator(mode="after")
    def _one_interval(self) -> RefillIn:
        if (self.interval is None) == (self.interval_seconds is None):
            raise ValueError("give exactly one of interval (daily, monthly) and interval_seconds")
        return self


class CreditsIn(Strict):
    remaining: Annotated[int, Field(ge=0, le=MAX_COUNT)]
    refill: RefillIn | None = None


class KeyFields(Strict):
    name: Name | None = None
    owner_id: ExternalId | None = None
    permissions: list[Permission] = Field(default_factory=list, max_length=100)
    roles: list[RoleName] = Field(default_factory=list, max_length=50)
    expires_at: Timestamp | None = None
    ttl_seconds: Annotated[int, Field(ge=1, le=MAX_TTL_SECONDS)] | None = None
    metadata: Metadata = Field(default_factory=dict)
    ratelimits: list[RateLimitIn] = Field(default_factory=list, max_length=20)
    credits: CreditsIn | None = None
    ip_allowlist: list[Network] = Field(default_factory=list, max_length=100)
    enabled: bool = True

    @field_validator("ratelimits")
    @classmethod
    def _unique_names(cls, value: list[RateLimitIn]) -> list[RateLimitIn]:
        names = [r.name for r in value]
        if len(names) != len(set(names)):
            raise ValueError("rate limit names must be unique")
        return value


class KeyCreate(KeyFields):
    api_id: Annotated[str, Field(min_length=1, max_length=64)]


class KeyPatch(KeyFields):
    """Only the fields present change; `null` clears a field that may be empty."""


class RollIn(Strict):
    grace_seconds: Annotated[int, Field(ge=0, le=365 * 86400)] = 0


class RateLimitOut(BaseModel):
    name: str
    limit: int
    window_seconds: int
    scope: Literal["key", "owner"]
    fail_open: bool


class CreditsOut(BaseModel):
    remaining: int
    refill: dict[str, Any] | None


class KeyOut(BaseModel):
    id: str
    api_id: str
    name: str | None
    owner_id: str | None
    start: str
    permissions: list[str]
    roles: list[str]
    expires_at: Time | None
    metadata: dict[str, Any]
    ratelimits: list[RateLimitOut]
    credits: CreditsOut | None
    ip_allowlist: list[str]
    enabled: bool
    created_at: Time
    updated_at: Time
    last_used_at: Time | None
    revoked_at: Time | None


class IssuedKeyOut(KeyOut):
    key: str = Field(description="The key itself: shown only in this response, never again")


def key_to_wire(key: StoredKey) -> dict[str, Any]:
    c = key.config
    credits = None
    if c.credits is not None:
        refill = c.credits.refill
        credits = {"remaining": c.credits.remaining, "refill": None if refill is None else {
            "amount": refill.amount, "interval": refill.interval,
            "interval_seconds": refill.interval_seconds}}
    return {
        "id": key.id, "api_id": key.api_id, "name": c.name, "owner_id": c.owner_id,
        "start": key.start, "permissions": list(c.permissions), "roles": list(c.roles),
        "expires_at": rfc3339(c.expires_at), "metadata": c.metadata,
        "ratelimits": [{"name": r.name, "limit": r.limit, "window_seconds": r.window_seconds,
                        "scope": r.scope, "fail_open": r.fail_open} for r in c.ratelimits],
        "credits": credits, "ip_allowlist": [str(n) for n in c.ip_allowlist],
        "enabled": c.enabled, "created_at": rfc3339(key.created_at),
        "updated_at": rfc3339(key.updated_at), "last_used_at": rfc3339(key.last_used_at),
        "revoked_at": rfc3339(key.revoked_at),
    }


def _credits(body: CreditsIn) -> Credits:
    refill = body.refill
    return Credits(body.remaining, None if refill is None else
                   Refill(refill.amount, refill.interval, refill.interval_seconds))


def config_values(body: KeyFields, fields: set[str], clock: Clock) -> dict[str, Any]:
    """The KeyConfig values named in `fields`, converted from the request model."""
    values: dict[str, Any] = {}
    for name in fields - {"expires_at", "ttl_seconds"}:
        value = getattr(body, name)
        if name in ("permissions", "roles"):
            values[name] = dedupe(value)
        elif name == "ratelimits":
            values[name] = tuple(RateLimit(r.name, r.limit, r.window_seconds, r.scope, r.fail_open)
                                 for r in value)
        elif name == "credits":
            values[name] = None if value is None else _credits(value)
        elif name == "ip_allowlist":
            values[name] = tuple(ipaddress.ip_network(n) for n in value)
        else:
            values[name] = value
    if fields & {"expires_at", "ttl_seconds"}:
        values["expires_at"] = _expiry(body, fields, clock.now())
    return values


def _expiry(body: KeyFields, fields: set[str], now: datetime) -> datetime | None:
    """The expiry a body asks for: `{"expires_at": null, "ttl_seconds": 86400}` is the TTL,
    and a null on its own clears."""
    if body.ttl_seconds is not None and body.expires_at is not None:
        raise Invalid.field("ttl_seconds", "give expires_at or ttl_seconds, not both")
    if body.ttl_seconds is not None:
        return now + timedelta(seconds=body.ttl_seconds)
    if "expires_at" in fields and body.expires_at is not None:
        if body.expires_at <= now:
            raise Invalid.field("expires_at", "must be in the future")
        return body.expires_at
    return None


@router.post("", status_code=201, response_model=IssuedKeyOut, summary="Create a key",
             description="The response holds the key itself; it is never shown again.")
async def create_key(body: KeyCreate, request: Request,
                     caller: Caller = Depends(require("keys.write"))) -> dict[str, Any]:
    services = services_of(request)
    fields = body.model_fields_set - {"api_id"}
    config = KeyConfig(**config_values(body, fields, services.clock))
    caller.require_api(body.api_id)
    issued = await services.keys.issue_key(caller.actor, body.api_id, config)
    return {**key_to_wire(issued.stored), "key": issued.key}


@router.get("", response_model=ListOf[KeyOut], summary="List keys by API and/or owner")
async def list_keys(request: Request, caller: Caller = Depends(require("keys.read")),
                    page: PageParams = Depends(),
                    api_id: IdFilter = None,
                    owner_id: OwnerParam = None) -> dict[str, Any]:
    api_id = caller.require_api(api_id)
    found = await services_of(request).keys.list_keys(api_id=api_id, owner_id=owner_id,
                                                      after=page.after, limit=page.limit)
    return render_page(found, key_to_wire)


@router.api_route("/verify", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def verify_with_a_wrong_method() -> Response:
    # POST /v1/keys/verify is a plain route of its own (app.py); without this one, GET would
    # be read as GET /v1/keys/{key_id} for a key named "verify" and answer 404, not 405.
    raise HTTPException(405, headers={"Allow": "POST"})


@router.get("/{key_id}", response_model=KeyOut, summary="Get a key")
async def get_key(key_id: str, request: Request,
                  caller: Caller = Depends(require("keys.read"))) -> dict[str, Any]:
    key = await services_of(request).keys.get_key(key_id)
    caller.require_key(key)
    return key_to_wire(key)


@router.patch("/{key_id}", response_model=KeyOut, summary="Update a key",
              description="Any create field but `api_id`; only the fields sent change.")
async def update_key(key_id: str, body: KeyPatch, request: Request,
                     caller: Caller = Depends(require("keys.write"))) -> dict[str, Any]:
    services = services_of(request)
    await require_key_in_reach(request, caller, key_id)
    changes = config_values(body, set(body.model_fields_set), services.clock)
    key = await services.keys.update_key(caller.actor, key_id, changes)
    return key_to_wire(key)


@router.delete("/{key_id}", status_code=204, summary="Delete a key")
async def delete_key(key_id: str, request: Request,
                     caller: Caller = Depends(require("keys.write"))) -> Response:
    await require_key_in_reach(request, caller, key_id)
    await services_of(request).keys.delete_key(caller.actor, key_id)
    return Response(status_code=204)


@router.post("/{key_id}/revoke", response_model=KeyOut, summary="Revoke a key",
             description="Immediate; revoking a revoked key changes nothing.")
async def revoke_key(key_id: str, request: Request,
                     caller: Caller = Depends(require("keys.write"))) -> dict[str, Any]:
    await require_key_in_reach(request, caller, key_id)
    return key_to_wire(await services_of(request).keys.revoke_key(caller.actor, key_id))


@router.post("/{key_id}/roll", status_code=201, response_model=IssuedKeyOut, summary="Roll a key",
             description="A new key with the same configuration; the old one expires after "
                         "`grace_seconds`.")
async def roll_key(key_id: str, request: Request, body: RollIn | None = None,
                   caller: Caller = Depends(require("keys.write"))) -> dict[str, Any]:
    await require_key_in_reach(request, caller, key_id)
    grace = body.grace_seconds if body is not None else 0
    issued = await services_of(request).keys.roll_key(caller.actor, key_id, grace_seconds=grace)
    return {**key_to_wire(issued.stored), "key": issued.key}
