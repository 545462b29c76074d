"""`keyplane alerts ...`: security alerts (`/v1/alerts`), newest first; acknowledge or
resolve one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

from keyplane.cli.audit import since_time
from keyplane.cli.client import (
    DEFAULT_URL,
    AllOption,
    CursorOption,
    LimitOption,
    RootKeyOption,
    UrlOption,
    connect,
    resource,
)
from keyplane.cli.output import Column, JsonOption, print_object, print_page
from keyplane.cli.resource_commands import add_get_command

app = typer.Typer(help="Security alerts: leaks, enumeration, reuse, spikes, rotation.",
                  no_args_is_help=True)

AlertId = Annotated[str, typer.Argument(help="The alert's id (alr_...).", show_default=False)]


def _subject(alert: Mapping[str, Any]) -> str:
    return f"{alert['subject']['kind']}:{alert['subject']['id']}"


ALERT_COLUMNS: list[Column] = [("id", "id"), ("type", "type"), ("severity", "severity"),
                               ("state", "state"), ("subject", _subject), ("count", "count"),
                               ("last seen", "last_seen")]
ALERT_FIELDS: list[Column] = [("id", "id"), ("type", "type"), ("severity", "severity"),
                              ("state", "state"), ("subject", _subject), ("api_id", "api_id"),
                              ("first_seen", "first_seen"), ("last_seen", "last_seen"),
                              ("count", "count"), ("details", "details")]


@app.command("list")
def list_alerts(
    alert_type: Annotated[str | None, typer.Option("--type", help="e.g. key.revoked_used")] = None,
    state: Annotated[str | None, typer.Option("--state", help="open, acknowledged or resolved")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="Seen since this RFC 3339 time, or this long ago: 30m, 12h, 7d.")] = None,
    limit: LimitOption = None, cursor: CursorOption = None, every: AllOption = False,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """List security alerts, newest first."""
    params = {"type": alert_type, "state": state, "since": since_time(since) if since else None,
              "limit": limit, "cursor": cursor}
    with connect(url, root_key) as client:
        page = client.collect("/v1/alerts", params, every=every)
    print_page(page, ALERT_COLUMNS, json_output=json_output, empty="No alerts.")


add_get_command(app, "/v1/alerts", ALERT_FIELDS, id_name="alert_id", id_type=AlertId,
                doc="Show one alert with its details.")


def _set_state(alert_id: str, state: str, json_output: bool, url: str, root_key: str | None) -> None:
    with connect(url, root_key) as client:
        changed = client.patch(resource("/v1/alerts", alert_id), {"state": state})
    print_object(changed, ALERT_FIELDS, json_output=json_output,
                 headline=f"Alert {alert_id} is {state}")


@app.command("ack")
def acknowledge_alert(alert_id: AlertId, json_output: JsonOption = False,
                      url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None) -> None:
    """Acknowledge an alert: repeats bump it without paging again."""
    _set_state(alert_id, "acknowledged", json_output, url, root_key)


@app.command("resolve")
def resolve_alert(alert_id: AlertId, json_output: JsonOption = False,
                  url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None) -> None:
    """Resolve an alert: a repeat afterwards opens a new one."""
    _set_state(alert_id, "resolved", json_output, url, root_key)
