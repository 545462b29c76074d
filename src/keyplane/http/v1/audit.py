"""`/v1/audit`: who did what, when, from where; newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from keyplane.audit.events import AuditEvent
from keyplane.clock import rfc3339
from keyplane.http.auth import require
from keyplane.http.context import services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import Time, Timestamp
from keyplane.http.v1.paging import ListOf, PageParams, render_page
from keyplane.keys.root_keys import Caller
from keyplane.pagination import page_of

router = APIRouter(prefix="/v1/audit", tags=["Audit"], responses=ERRORS)

Filter = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_./-]+$")]


class AuditEventOut(BaseModel):
    id: str
    time: Time
    actor: str
    action: str
    target: str
    ip: str | None
    details: dict[str, Any]


def event_to_wire(event: AuditEvent) -> dict[str, Any]:
    return {"id": event.id, "time": rfc3339(event.time), "actor": event.actor,
            "action": event.action, "target": event.target, "ip": event.ip,
            "details": event.details}


@router.get("", response_model=ListOf[AuditEventOut], summary="Query the audit log",
            description="Filters combine with AND; `actor` is a root key id (or `system`).")
async def list_audit_events(
    request: Request, _: Caller = Depends(require("audit.read")), page: PageParams = Depends(),
    since: Annotated[Timestamp | None, Query()] = None, actor: Filter = None,
    action: Filter = None, target: Filter = None,
) -> dict[str, Any]:
    rows = await services_of(request).audit.page(
        since=since, actor=actor, action=action, target=target, before=page.after,
        limit=page.limit + 1)
    return render_page(page_of(rows, page.limit, lambda e: e.id), event_to_wire)
