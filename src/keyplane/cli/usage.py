"""`keyplane keys usage|events|expose` and `keyplane usage`: what keys were used for."""

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
from keyplane.cli.keys import KeyId
from keyplane.cli.keys import app as keys_app
from keyplane.cli.output import JsonOption, print_json, print_page, print_table

Since = Annotated[str | None, typer.Option(
    "--since", metavar="TIME", help="From this RFC 3339 time, or this long ago: 30m, 12h, 7d.")]
Until = Annotated[str | None, typer.Option(
    "--until", metavar="TIME", help="Until this RFC 3339 time, or this long ago.")]
Granularity = Annotated[str, typer.Option("--granularity", help="hour or day.")]


def _time(value: str | None) -> str | None:
    return since_time(value) if value else None


def _counts(bucket: Mapping[str, Any]) -> str:
    counts = bucket.get("counts") or {}
    return ", ".join(f"{code} {n}" for code, n in sorted(counts.items())) or "-"


def _print_series(series: Mapping[str, Any], json_output: bool) -> None:
    if json_output:
        print_json(series)
        return
    rows = [b for b in series["items"] if b["counts"]]
    print_table(rows, [("start", "start"), ("counts", _counts)], empty="(no verifications)")


@keys_app.command("usage")
def key_usage(key_id: KeyId, since: Since = None, until: Until = None,
              granularity: Granularity = "hour", json_output: JsonOption = False,
              url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None) -> None:
    """A key's verifications counted by hour or day and outcome."""
    params = {"since": _time(since), "until": _time(until), "granularity": granularity}
    with connect(url, root_key) as client:
        series = client.get(resource("/v1/keys", key_id, "usage"), params)
    _print_series(series, json_output)


EVENT_COLUMNS = [("time", "time"), ("code", "code"), ("ip", "ip"), ("user agent", "user_agent")]


@keys_app.command("events")
def key_events(key_id: KeyId, since: Since = None, limit: LimitOption = None,
               cursor: CursorOption = None, every: AllOption = False,
               json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
               root_key: RootKeyOption = None) -> None:
    """A key's verifications, newest first."""
    params = {"since": _time(since), "limit": limit, "cursor": cursor}
    with connect(url, root_key) as client:
        page = client.collect(resource("/v1/keys", key_id, "events"), params, every=every)
    print_page(page, EVENT_COLUMNS, json_output=json_output, empty="(no verifications)")


@keys_app.command("expose")
def expose_key(key_id: KeyId, since: Since = None, json_output: JsonOption = False,
               url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None) -> None:
    """For a key that leaked: revoke it at once, then report its recent activity."""
    with connect(url, root_key) as client:
        report = client.request("POST", resource("/v1/keys", key_id, "expose"),
                                params={"since": _time(since)})
    if json_output:
        print_json(report)
        return
    activity = report["activity"]
    typer.echo(f"Revoked key {report['key']['id']} ({report['key']['start']}...) at "
               f"{report['key']['revoked_at']}")
    typer.echo(f"Activity since {activity['since']}: {_counts(activity) if activity['counts'] else 'none'}")
    typer.echo("")
    print_table(activity["addresses"], [("ip", "ip"), ("count", "count"),
                                        ("first seen", "first_seen"), ("last seen", "last_seen")],
                empty="(no addresses)")
    typer.echo("")
    print_table(activity["events"], EVENT_COLUMNS, empty="(no events)")


def usage(api_id: Annotated[str | None, typer.Option("--api-id", help="Only this API's keys.")] = None,
          owner_id: Annotated[str | None, typer.Option("--owner-id", help="Only this owner's keys.")] = None,
          since: Since = None, until: Until = None, granularity: Granularity = "hour",
          json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
          root_key: RootKeyOption = None) -> None:
    """Verifications summed over keys, by hour or day and outcome."""
    params = {"api_id": api_id, "owner_id": owner_id, "since": _time(since),
              "until": _time(until), "granularity": granularity}
    with connect(url, root_key) as client:
        series = client.get("/v1/usage", params)
    _print_series(series, json_output)
