"""Security alerts: the list (by state and type, newest first), one alert, acknowledge and
resolve (the same rules as PATCH /v1/alerts, audited as the signed-in user)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keyplane.alerts.model import ACKNOWLEDGED, OPEN, RESOLVED, STATES, TYPES, Alert
from keyplane.http.v1.alerts import AlertPatch
from keyplane.pagination import decode_cursor
from keyplane.web.dashboard.access import PAGE_SIZE, Admin, action, redirect, view
from keyplane.web.dashboard.apis import api_path
from keyplane.web.dashboard.clients import client_path
from keyplane.web.dashboard.keys import key_path
from keyplane.web.dashboard.navigation import DASHBOARD_PATH
from keyplane.web.dashboard.people import USERS_PATH
from keyplane.web.dashboard.validation import checked

ALERTS_PATH = f"{DASHBOARD_PATH}/alerts"
_NOTICES = {ACKNOWLEDGED: "Alert acknowledged: a repeat bumps it without opening a new one.",
            RESOLVED: "Alert resolved: a repeat opens a new one."}


def alert_path(alert_id: str) -> str:
    return f"{ALERTS_PATH}/{alert_id}"


def subject_path(alert: Alert) -> str | None:
    """The dashboard page of the alert's subject, where it has one."""
    if alert.subject_kind == "key":
        return key_path(alert.subject_id)
    if alert.subject_kind == "client":
        return client_path(alert.subject_id)
    if alert.subject_kind == "api":
        return api_path(alert.subject_id)
    if alert.subject_kind == "user":
        return f"{USERS_PATH}/{alert.subject_id}"
    return None


async def open_count(admin: Admin, *, limit: int = 100) -> tuple[int, bool]:
    """How many alerts are open (at most `limit`), and whether there are more."""
    found = await admin.services.alerts.list_alerts(type=None, state=OPEN, since=None,
                                                    before=None, limit=limit)
    return len(found.items), found.next_cursor is not None


async def list_alerts(admin: Admin) -> Response:
    state = admin.query("state")
    type_ = admin.query("type")
    cursor = admin.query("cursor")
    found = await admin.services.alerts.list_alerts(
        type=type_ if type_ in TYPES else None, state=state if state in STATES else None,
        since=None, before=decode_cursor(cursor or None), limit=PAGE_SIZE)
    return admin.show("alerts.html", "alerts", title="Alerts",
                      alerts=[(a, subject_path(a)) for a in found.items], state=state,
                      type=type_, states=STATES, types=TYPES, next_cursor=found.next_cursor)


async def show_alert(admin: Admin) -> Response:
    alert = await admin.services.alerts.get_alert(admin.request.path_params["alert_id"])
    return admin.show("alert.html", "alerts", title=f"Alert {alert.type}", alert=alert,
                      subject_path=subject_path(alert),
                      notice=_NOTICES.get(admin.query("done"), ""))


async def set_state(admin: Admin, form: dict[str, str]) -> Response:
    alert_id = admin.request.path_params["alert_id"]
    body, errors = checked(AlertPatch, {"state": form.get("state", "")})
    if body is None:
        alert = await admin.services.alerts.get_alert(alert_id)
        return admin.show("alert.html", "alerts", status=422, title=f"Alert {alert.type}",
                          alert=alert, subject_path=subject_path(alert), errors=errors)
    alert = await admin.services.alerts.set_state(admin.actor, alert_id, body.state)
    return redirect(f"{alert_path(alert.id)}?done={alert.state}")


def routes() -> list[BaseRoute]:
    return [
        Route(ALERTS_PATH, view(list_alerts), methods=["GET"]),
        Route(ALERTS_PATH + "/{alert_id}", view(show_alert), methods=["GET"]),
        Route(ALERTS_PATH + "/{alert_id}/state", action(set_state), methods=["POST"]),
    ]
