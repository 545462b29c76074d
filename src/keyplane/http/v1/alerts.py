"""`/v1/alerts`: security alerts, newest first; acknowledge or resolve one."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from keyplane.alerts.model import alert_to_wire
from keyplane.http.auth import require
from keyplane.http.context import services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import Strict, Time, Timestamp
from keyplane.http.v1.paging import ListOf, PageParams, render_page
from keyplane.keys.root_keys import Caller

router = APIRouter(prefix="/v1/alerts", tags=["Alerts"], responses=ERRORS)

Filter = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.]+$")]


class Subject(BaseModel):
    kind: Literal["key", "client", "user", "ip", "api"]
    id: str


class AlertOut(BaseModel):
    id: str
    type: str
    severity: Literal["info", "warning", "critical"]
    state: Literal["open", "acknowledged", "resolved"]
    subject: Subject
    api_id: str | None
    first_seen: Time
    last_seen: Time
    count: int
    details: dict[str, Any]


class AlertPatch(Strict):
    state: Literal["open", "acknowledged", "resolved"]


@router.get("", response_model=ListOf[AlertOut], summary="List security alerts",
            description="Newest first. `since` keeps alerts seen (`last_seen`) at or after it.")
async def list_alerts(
    request: Request, _: Caller = Depends(require("alerts.read")), page: PageParams = Depends(),
    type: Filter = None, state: Filter = None,
    since: Annotated[Timestamp | None, Query()] = None,
) -> dict[str, Any]:
    found = await services_of(request).alerts.list_alerts(
        type=type, state=state, since=since, before=page.after, limit=page.limit)
    return render_page(found, alert_to_wire)


@router.get("/{alert_id}", response_model=AlertOut, summary="Get a security alert")
async def get_alert(alert_id: str, request: Request,
                    _: Caller = Depends(require("alerts.read"))) -> dict[str, Any]:
    return alert_to_wire(await services_of(request).alerts.get_alert(alert_id))


@router.patch("/{alert_id}", response_model=AlertOut, summary="Acknowledge or resolve an alert",
              description="A repeat of an acknowledged alert bumps it; once resolved, a repeat "
                          "opens a new one.")
async def update_alert(alert_id: str, body: AlertPatch, request: Request,
                       caller: Caller = Depends(require("alerts.write"))) -> dict[str, Any]:
    alert = await services_of(request).alerts.set_state(caller.actor, alert_id, body.state)
    return alert_to_wire(alert)
