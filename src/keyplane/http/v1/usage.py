"""Usage of keys: counts by hour or day and outcome, a key's events, the exposure report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from keyplane.clock import rfc3339
from keyplane.http.auth import require, require_key_in_reach
from keyplane.http.context import services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import IdFilter, OwnerParam, Time, Timestamp
from keyplane.http.v1.keys import KeyOut, key_to_wire
from keyplane.http.v1.paging import ListOf, PageParams, render_page
from keyplane.keys.root_keys import Caller
from keyplane.usage.events import Activity, StoredUsageEvent, UsageBucket

router = APIRouter(tags=["Usage"], responses=ERRORS)

Since = Annotated[Timestamp | None, Query(description="RFC 3339; default depends on the endpoint")]
Until = Annotated[Timestamp | None, Query(description="RFC 3339; default now")]
GranularityParam = Annotated[Literal["hour", "day"], Query()]


class UsageBucketOut(BaseModel):
    start: Time
    counts: dict[str, int]


class UsageOut(BaseModel):
    items: list[UsageBucketOut]


class UsageEventOut(BaseModel):
    time: Time
    code: str
    ip: str | None
    user_agent: str | None


class AddressOut(BaseModel):
    ip: str | None
    first_seen: Time
    last_seen: Time
    count: int


class ActivityOut(BaseModel):
    since: Time
    counts: dict[str, int]
    addresses: list[AddressOut]
    events: list[UsageEventOut]


class ExposureOut(BaseModel):
    key: KeyOut
    activity: ActivityOut


def _buckets(buckets: list[UsageBucket]) -> dict[str, Any]:
    return {"items": [{"start": rfc3339(b.start), "counts": b.counts} for b in buckets]}


def event_to_wire(event: StoredUsageEvent) -> dict[str, Any]:
    return {"time": rfc3339(event.time), "code": event.code, "ip": event.ip,
            "user_agent": event.user_agent}


def activity_to_wire(activity: Activity) -> dict[str, Any]:
    return {
        "since": rfc3339(activity.since), "counts": activity.counts,
        "addresses": [{"ip": a.ip, "first_seen": rfc3339(a.first_seen),
                       "last_seen": rfc3339(a.last_seen), "count": a.count}
                      for a in activity.addresses],
        "events": [event_to_wire(e) for e in activity.events],
    }


@router.get("/v1/keys/{key_id}/usage", response_model=UsageOut, summary="A key's usage",
            description="Counts by outcome for every hour or day in [since, until) "
                        "(default: the last 24 hours by hour, the last 30 days by day).")
async def key_usage(key_id: str, request: Request, caller: Caller = Depends(require("keys.read")),
                    since: Since = None, until: Until = None,
                    granularity: GranularityParam = "hour") -> dict[str, Any]:
    services = services_of(request)
    key = await services.keys.get_key(key_id)
    caller.require_key(key)
    return _buckets(await services.usage.series(key_id=key.id, since=since, until=until,
                                                granularity=granularity))


@router.get("/v1/keys/{key_id}/events", response_model=ListOf[UsageEventOut],
            summary="A key's verifications, newest first")
async def key_events(key_id: str, request: Request, caller: Caller = Depends(require("keys.read")),
                     page: PageParams = Depends(), since: Since = None) -> dict[str, Any]:
    services = services_of(request)
    key = await services.keys.get_key(key_id)
    caller.require_key(key)
    found = await services.usage.events(key.id, since=since, after=page.after, limit=page.limit)
    return render_page(found, event_to_wire)


@router.get("/v1/usage", response_model=UsageOut, summary="Usage summed over keys",
            description="Counts over the keys of an API and/or an owner; without filters, "
                        "over every key. Verifications of unknown keys count under their API.")
async def usage(request: Request, caller: Caller = Depends(require("keys.read")),
                api_id: IdFilter = None, owner_id: OwnerParam = None, since: Since = None,
                until: Until = None, granularity: GranularityParam = "hour") -> dict[str, Any]:
    services = services_of(request)
    api_id = caller.require_api(api_id)
    if api_id is not None:
        await services.apis.get_api(api_id)
    return _buckets(await services.usage.series(api_id=api_id, owner_id=owner_id, since=since,
                                                until=until, granularity=granularity))


@router.post("/v1/keys/{key_id}/expose", response_model=ExposureOut,
             summary="Revoke a key and report its recent activity",
             description="For a key that leaked: revoked at once, then its activity since "
                         "`since` (default 7 days): counts by outcome, each client address "
                         "with first and last seen, and the latest events.")
async def expose_key(key_id: str, request: Request,
                     caller: Caller = Depends(require("keys.write")),
                     since: Since = None) -> dict[str, Any]:
    await require_key_in_reach(request, caller, key_id)
    report = await services_of(request).exposure.expose(caller.actor, key_id, since=since)
    return {"key": key_to_wire(report.key), "activity": activity_to_wire(report.activity)}
