"""`keyplane audit`: who did what, when, from where (`/v1/audit`), newest first."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from keyplane.cli.client import (
    DEFAULT_URL,
    CursorOption,
    LimitOption,
    RootKeyOption,
    UrlOption,
    connect,
)
from keyplane.cli.output import (
    Column,
    JsonOption,
    print_page,
)

AUDIT_COLUMNS: list[Column] = [("time", "time"), ("actor", "actor"), ("action", "action"),
                               ("target", "target"), ("ip", "ip"), ("details", "details")]

_AGO = re.compile(r"(\d{1,9})([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def since_time(value: str) -> str:
    """An RFC 3339 time as is, or a time that long ago: 30m, 12h, 7d."""
    match = _AGO.fullmatch(value.strip())
    if match is None:
        return value
    ago = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    return (datetime.now(UTC) - ago).isoformat(timespec="seconds").replace("+00:00", "Z")


def audit(
    since: Annotated[str | None, typer.Option(
        "--since", help="From this RFC 3339 time, or this long ago: 30m, 12h, 7d.")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="A root key id, or system.")] = None,
    action: Annotated[str | None, typer.Option("--action", help="e.g. key.revoke")] = None,
    target: Annotated[str | None, typer.Option("--target", help="The id acted on.")] = None,
    limit: LimitOption = None, cursor: CursorOption = None,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Show the audit log, newest first."""
    params = {"since": since_time(since) if since else None, "actor": actor, "action": action,
              "target": target, "limit": limit, "cursor": cursor}
    with connect(url, root_key) as client:
        page = client.get("/v1/audit", params)
    print_page(page, AUDIT_COLUMNS, json_output=json_output, empty="No events.")
