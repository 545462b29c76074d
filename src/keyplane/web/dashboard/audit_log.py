"""The audit log: filter by actor, action, target and time range; links to the objects."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keyplane.ids import is_any_id
from keyplane.pagination import decode_cursor, encode_cursor
from keyplane.web.dashboard.access import PAGE_SIZE, Admin, view
from keyplane.web.dashboard.navigation import DASHBOARD_PATH

AUDIT_PATH = f"{DASHBOARD_PATH}/audit"
# Where an object of each id type is shown.
_PAGES = {"key": f"{DASHBOARD_PATH}/keys/", "api": f"{DASHBOARD_PATH}/apis/",
          "cli": f"{DASHBOARD_PATH}/clients/", "usr": f"{DASHBOARD_PATH}/users/"}
_LOCAL_TIME = "%Y-%m-%dT%H:%M"


def link_of(object_id: str) -> str | None:
    """The dashboard page of the object this id names, when there is one."""
    prefix = object_id.split("_", 1)[0]
    return _PAGES[prefix] + object_id if prefix in _PAGES and is_any_id(object_id) else None


def _time(text: str, errors: dict[str, str], name: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, _LOCAL_TIME).replace(tzinfo=UTC)
    except ValueError:
        errors[name] = "must be a time such as 2026-01-31T13:45 (UTC)"
        return None


async def audit_log(admin: Admin) -> Response:
    filters = {name: admin.query(name, max_length=64) for name in ("actor", "action", "target")}
    since_text, until_text = admin.query("since", max_length=16), admin.query("until", max_length=16)
    errors: dict[str, str] = {}
    since, until = _time(since_text, errors, "since"), _time(until_text, errors, "until")
    cursor = admin.query("cursor")
    before = decode_cursor(cursor or None)
    rows = [] if errors else await admin.services.audit.page(
        since=since, until=until, before=before, limit=PAGE_SIZE + 1,
        **{k: v or None for k, v in filters.items()})
    more = len(rows) > PAGE_SIZE
    events = rows[:PAGE_SIZE]
    return admin.show("audit.html", "audit", status=400 if errors else 200, title="Audit log",
                      events=events, link_of=link_of, filters=filters, since=since_text,
                      until=until_text, errors=errors,
                      next_cursor=encode_cursor(events[-1].id) if more else None)


def routes() -> list[BaseRoute]:
    return [Route(AUDIT_PATH, view(audit_log), methods=["GET"])]
