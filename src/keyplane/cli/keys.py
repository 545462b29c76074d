"""`keyplane keys ...`: the life of an API key (`/v1/keys`).

A key's plaintext is printed once, by `create` and `roll`; every other command shows only
its display `start`. `verify` exits 0 for VALID and 1 for any other code, so a shell script
can branch on it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

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
from keyplane.cli.errors import CliError
from keyplane.cli.output import (
    Column,
    JsonOption,
    print_fields,
    print_json,
    print_object,
    print_page,
    show_secret,
)
from keyplane.cli.resource_commands import add_get_command
from keyplane.credentials.format import has_key_shape, is_valid_prefix
from keyplane.ids import is_any_id

app = typer.Typer(help="Create, inspect, update, roll, revoke and verify API keys.",
                  no_args_is_help=True)


def not_a_key(value: str) -> str:
    """An id argument, refused when it is a key itself: a pasted secret is never sent (it
    would sit in a URL, the server's access log) nor echoed."""
    if has_key_shape(value):
        raise typer.BadParameter(
            "that is a key itself, not its id (key_...); it was not sent anywhere. "
            "`keyplane keys verify -` checks a key read from stdin and prints its key_id.")
    return value


KeyId = Annotated[str, typer.Argument(help="The key's id (key_...), never the key itself.",
                                      show_default=False, callback=not_a_key)]
Name = Annotated[str | None, typer.Option("--name", help="A name for people.")]
OwnerId = Annotated[str | None, typer.Option(
    "--owner-id", help="Your id for the key's owner (user, team...).")]
Permissions = Annotated[list[str] | None, typer.Option(
    "--permission", "-p", metavar="PERMISSION", help="A permission (repeat for more); replaces the list on update.")]
Roles = Annotated[list[str] | None, typer.Option(
    "--role", "-r", metavar="ROLE", help="A role of the API (repeat for more); replaces the list on update.")]
TtlSeconds = Annotated[int | None, typer.Option(
    "--ttl-seconds", min=1, help="Expire this many seconds from now.")]
ExpiresAt = Annotated[str | None, typer.Option(
    "--expires-at", metavar="TIME", help="Expire at this RFC 3339 time, e.g. 2030-01-01T00:00:00Z.")]
Metadata = Annotated[str | None, typer.Option(
    "--metadata", metavar="JSON", help='A JSON object kept with the key, e.g. \'{"plan": "pro"}\'.')]
Networks = Annotated[list[str] | None, typer.Option(
    "--ip", metavar="CIDR", help="Allow only this address or CIDR network (repeat for more).")]
RateLimits = Annotated[list[str] | None, typer.Option(
    "--ratelimit", metavar="NAME:LIMIT:WINDOW_SECONDS[:owner]",
    help="At most LIMIT verifications per WINDOW_SECONDS, e.g. requests:100:60 (repeat for "
         "more; replaces the list on update). A 4th part `owner` shares the limit among all "
         "keys of the same --owner-id in the API, e.g. requests:1000:60:owner.")]
Credits = Annotated[int | None, typer.Option(
    "--credits", min=0, help="Uses left (each verification costs one); unlimited if unset. "
                             "On update it sets the balance and keeps the refill.")]
Refill = Annotated[str | None, typer.Option(
    "--refill", metavar="AMOUNT:daily|monthly|<N>s",
    help="Set the credits back to AMOUNT every day (midnight UTC), month (the 1st) or N "
         "seconds, e.g. 1000:daily or 500:3600s. A new key without --credits starts with "
         "AMOUNT; on update give --credits too.")]


def _metadata(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise typer.BadParameter(f"not valid JSON ({exc})", param_hint="--metadata") from None
    if not isinstance(value, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--metadata")
    return value


def _ratelimit(raw: str) -> dict[str, Any]:
    parts = raw.split(":")
    if len(parts) == 4 and parts[3] not in ("key", "owner"):
        raise typer.BadParameter(
            f"in {raw!r} the 4th part can only be `owner` (the word itself): it shares the "
            "limit among all keys with the same --owner-id; the owner is not named here",
            param_hint="--ratelimit")
    try:
        if len(parts) not in (3, 4):
            raise ValueError
        limit = {"name": parts[0], "limit": int(parts[1]), "window_seconds": int(parts[2])}
    except ValueError:
        raise typer.BadParameter(
            f"{raw!r} is not NAME:LIMIT:WINDOW_SECONDS[:owner], e.g. requests:100:60, or "
            "requests:1000:60:owner for a limit shared by the owner's keys",
            param_hint="--ratelimit") from None
    if len(parts) == 4:
        limit["scope"] = parts[3]
    return limit


_REFILL = re.compile(r"([0-9]+):(?:(daily|monthly)|([0-9]+)s)")


def _refill(raw: str) -> dict[str, Any]:
    """AMOUNT:daily, AMOUNT:monthly or AMOUNT:<N>s as the API's `credits.refill`."""
    match = _REFILL.fullmatch(raw.strip())
    if match is None:
        raise typer.BadParameter(
            f"{raw!r} is not AMOUNT:daily, AMOUNT:monthly or AMOUNT:<N>s (every N seconds), "
            "e.g. 1000:daily or 500:3600s", param_hint="--refill")
    amount, interval, seconds = match.groups()
    if interval is not None:
        return {"amount": int(amount), "interval": interval}
    return {"amount": int(amount), "interval_seconds": int(seconds)}


def _fields(*, name: str | None, owner_id: str | None, permissions: list[str] | None,
            roles: list[str] | None, ttl_seconds: int | None, expires_at: str | None,
            metadata: str | None, networks: list[str] | None, ratelimits: list[str] | None,
            credits: int | None, refill: str | None) -> dict[str, Any]:
    """The request fields for the options given; an option left out is not sent."""
    body: dict[str, Any] = {}
    for field, value in (("name", name), ("owner_id", owner_id), ("permissions", permissions),
                         ("roles", roles), ("ttl_seconds", ttl_seconds),
                         ("expires_at", expires_at), ("ip_allowlist", networks)):
        if value is not None:
            body[field] = value
    if metadata is not None:
        body["metadata"] = _metadata(metadata)
    if ratelimits is not None:
        body["ratelimits"] = [_ratelimit(r) for r in ratelimits]
    if refill is not None:
        every = _refill(refill)
        body["credits"] = {"remaining": every["amount"] if credits is None else credits,
                           "refill": every}
    elif credits is not None:
        body["credits"] = {"remaining": credits}
    return body


def _kept_refill(key: Mapping[str, Any]) -> dict[str, Any] | None:
    """The key's refill as a request sends it: `--credits` alone changes the balance only."""
    refill = (key.get("credits") or {}).get("refill")
    return None if refill is None else {k: v for k, v in refill.items() if v is not None}


def status(key: Mapping[str, Any]) -> str:
    """revoked, expired, disabled or active: what a verification would say first."""
    if key.get("revoked_at"):
        return "revoked"
    expires_at = key.get("expires_at")
    if expires_at:
        try:
            if datetime.fromisoformat(expires_at) <= datetime.now(UTC):
                return "expired"
        except ValueError:
            pass
    return "active" if key.get("enabled", True) else "disabled"


def _ratelimits(key: Mapping[str, Any]) -> list[str]:
    return [f"{r['name']} {r['limit']}/{r['window_seconds']}s"
            + (" per owner" if r.get("scope") == "owner" else "")
            for r in key.get("ratelimits") or []]


def _credits(key: Mapping[str, Any]) -> str:
    credits = key.get("credits")
    if not credits:
        return "unlimited"
    refill = credits.get("refill")
    if not refill:
        return str(credits["remaining"])
    every = refill.get("interval") or f"every {refill.get('interval_seconds')}s"
    return f"{credits['remaining']} (refill {refill['amount']} {every})"


KEY_FIELDS: list[Column] = [
    ("id", "id"), ("api_id", "api_id"), ("name", "name"), ("owner_id", "owner_id"),
    ("start", "start"), ("status", status), ("permissions", "permissions"),
    ("roles", "roles"), ("expires_at", "expires_at"), ("metadata", "metadata"),
    ("ratelimits", _ratelimits), ("credits", _credits), ("ip_allowlist", "ip_allowlist"),
    ("created_at", "created_at"), ("updated_at", "updated_at"),
    ("last_used_at", "last_used_at"), ("revoked_at", "revoked_at"),
]
KEY_COLUMNS: list[Column] = [
    ("id", "id"), ("name", "name"), ("owner", "owner_id"), ("start", "start"),
    ("permissions", "permissions"), ("roles", "roles"), ("expires", "expires_at"),
    ("status", status),
]
USE_NOTE = "Verify it with `keyplane keys verify -` (reads the key from stdin)."


def _show_issued(issued: dict[str, Any], json_output: bool, headline: str) -> None:
    print_object(issued, KEY_FIELDS, json_output=json_output, headline=headline)
    if json_output:  # the key is in the JSON already
        return
    show_secret("Key", issued["key"], note=USE_NOTE)


@app.command("create")
def create_key(
    api_id: Annotated[str, typer.Option("--api-id", help="The API the key belongs to.",
                                        show_default=False)],
    name: Name = None, owner_id: OwnerId = None, permissions: Permissions = None,
    roles: Roles = None, ttl_seconds: TtlSeconds = None, expires_at: ExpiresAt = None,
    metadata: Metadata = None, networks: Networks = None, ratelimits: RateLimits = None,
    credits: Credits = None, refill: Refill = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled.")] = False,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Create a key; its plaintext is printed once, never again."""
    body = {"api_id": api_id, **_fields(
        name=name, owner_id=owner_id, permissions=permissions, roles=roles,
        ttl_seconds=ttl_seconds, expires_at=expires_at, metadata=metadata, networks=networks,
        ratelimits=ratelimits, credits=credits, refill=refill)}
    if disabled:
        body["enabled"] = False
    with connect(url, root_key) as client:
        issued = client.post("/v1/keys", body)
    _show_issued(issued, json_output, f"Created key {issued['id']}")


@app.command("list")
def list_keys(
    api_id: Annotated[str | None, typer.Option("--api-id", help="Only this API's keys.")] = None,
    owner_id: Annotated[str | None, typer.Option("--owner-id", help="Only this owner's keys.")] = None,
    limit: LimitOption = None, cursor: CursorOption = None, every: AllOption = False,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """List keys (never their plaintext)."""
    params = {"api_id": api_id, "owner_id": owner_id, "limit": limit, "cursor": cursor}
    with connect(url, root_key) as client:
        page = client.collect("/v1/keys", params, every=every)
    print_page(page, KEY_COLUMNS, json_output=json_output, empty="No keys.")


add_get_command(app, "/v1/keys", KEY_FIELDS, id_name="key_id", id_type=KeyId, doc="Show one key.")


@app.command("update")
def update_key(
    key_id: KeyId, name: Name = None, owner_id: OwnerId = None, permissions: Permissions = None,
    roles: Roles = None, ttl_seconds: TtlSeconds = None, expires_at: ExpiresAt = None,
    metadata: Metadata = None, networks: Networks = None, ratelimits: RateLimits = None,
    credits: Credits = None, refill: Refill = None,
    no_refill: Annotated[bool, typer.Option(
        "--no-refill", help="Stop refilling the credits (give --credits too).")] = False,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="Never expire.")] = False,
    enabled: Annotated[bool | None, typer.Option(
        "--enable/--disable", help="Let the key verify again, or stop it for now.",
        show_default=False)] = None,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Change a key; only the options given change."""
    if (refill is not None or no_refill) and credits is None:
        # The balance and its refill are set together; a balance read first would be stale
        # by the time it is written back, and undo what verifications spent meanwhile.
        raise typer.BadParameter(
            "give --credits too: the balance is set with its refill, "
            "e.g. --credits 1000 --refill 1000:daily", param_hint="--refill")
    if refill is not None and no_refill:
        raise typer.BadParameter("give --refill or --no-refill, not both", param_hint="--no-refill")
    body = _fields(name=name, owner_id=owner_id, permissions=permissions, roles=roles,
                   ttl_seconds=ttl_seconds, expires_at=expires_at, metadata=metadata,
                   networks=networks, ratelimits=ratelimits, credits=credits, refill=refill)
    if no_expiry:
        if ttl_seconds is not None or expires_at is not None:
            raise typer.BadParameter("give --no-expiry or an expiry, not both",
                                     param_hint="--no-expiry")
        body["expires_at"] = None
    if enabled is not None:
        body["enabled"] = enabled
    if not body:
        raise typer.BadParameter("nothing to change: give at least one option",
                                 param_hint="options")
    with connect(url, root_key) as client:
        if credits is not None and refill is None and not no_refill:
            body["credits"]["refill"] = _kept_refill(client.get(resource("/v1/keys", key_id)))
        key = client.patch(resource("/v1/keys", key_id), body)
    print_object(key, KEY_FIELDS, json_output=json_output, headline=f"Updated key {key['id']}")


@app.command("revoke")
def revoke_key(key_id: KeyId, json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
               root_key: RootKeyOption = None) -> None:
    """Revoke a key at once (it stays listed, marked revoked)."""
    with connect(url, root_key) as client:
        key = client.post(resource("/v1/keys", key_id, "revoke"))
    if json_output:
        print_json(key)
    else:
        typer.echo(f"Revoked key {key['id']} at {key['revoked_at']}")


@app.command("roll")
def roll_key(
    key_id: KeyId,
    grace_seconds: Annotated[int | None, typer.Option(
        "--grace-seconds", min=0, help="Keep the old key working this long (default 0).")] = None,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Replace a key by a new one with the same configuration; the old key keeps working
    for the grace period, then expires."""
    body = {} if grace_seconds is None else {"grace_seconds": grace_seconds}
    with connect(url, root_key) as client:
        issued = client.post(resource("/v1/keys", key_id, "roll"), body)
        old = None if json_output else client.get(resource("/v1/keys", key_id))
    _show_issued(issued, json_output, f"Rolled key {key_id}: the new key is {issued['id']}")
    if old is not None:
        typer.echo(_grace_note(old))


def _grace_note(old: Mapping[str, Any]) -> str:
    """Until when the key that was rolled keeps working."""
    if status(old) != "active":
        return f"The old key {old['id']} no longer works ({status(old)})."
    return (f"The old key {old['id']} keeps working until {old['expires_at']}, then expires "
            f"(`keyplane keys revoke {old['id']}` ends it sooner).")


@app.command("delete")
def delete_key(key_id: KeyId, json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
               root_key: RootKeyOption = None) -> None:
    """Delete a key for good (verification answers NOT_FOUND)."""
    with connect(url, root_key) as client:
        client.delete(resource("/v1/keys", key_id))
    if not json_output:
        typer.echo(f"Deleted key {key_id}")


def _read_key(key: str) -> str:
    if key != "-":
        return key
    line = sys.stdin.readline().strip()
    if not line:
        raise CliError("no key on stdin")
    return line


def why_malformed(text: str) -> str:
    """What makes `text` not a key, said without repeating any of it."""
    if is_any_id(text):
        return ("this is a key id, not a key; `keyplane keys get` takes ids" if text.startswith("key_")
                else "this is an id, not a key")
    if has_key_shape(text):
        return "checksum does not match: a typo? (the last 6 characters check the rest)"
    prefix, sep, body = text.rpartition("_")
    if sep and is_valid_prefix(prefix) and body.isascii() and body.isalnum():
        return (f"{len(body)} letters and digits after the prefix, where a key has 28: "
                "cut short, or two pasted together?")
    return "not a key: a key is its API's prefix, `_` and 28 letters and digits (sk_live_3Xq...)"


@app.command("verify")
def verify_key(
    key: Annotated[str, typer.Argument(
        help="The key, or - to read it from stdin (keeps it out of shell history).",
        show_default=False)],
    api_id: Annotated[str | None, typer.Option("--api-id", help="The key must be this API's.")] = None,
    permissions: Annotated[str | None, typer.Option(
        "--permissions", help="A permission query the key must satisfy, e.g. 'a AND (b OR c)'.")] = None,
    ip: Annotated[str | None, typer.Option(
        "--ip", metavar="ADDRESS", help="The end client's address (checked against the key's "
                                        "--ip allow-list).")] = None,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Verify a key as an API would: exit 0 when VALID, 1 otherwise."""
    body: dict[str, Any] = {"key": _read_key(key)}
    for field, value in (("api_id", api_id), ("permissions", permissions), ("ip", ip)):
        if value is not None:
            body[field] = value
    with connect(url, root_key) as client:
        verdict = client.post("/v1/keys/verify", body)
    reason = None
    if verdict.get("code") == "MALFORMED":
        reason = why_malformed(body["key"])
    elif verdict.get("code") == "FORBIDDEN_IP" and ip is None:
        reason = ("the key allows only some networks (its ip_allowlist): give the end "
                  "client's address with --ip")
    if json_output:
        print_json(verdict)
        if reason:
            typer.echo(f"{verdict['code']}: {reason}", err=True)
    else:
        typer.echo(verdict["code"])
        if reason:
            typer.echo(reason)
        if verdict.get("key_id"):
            print_fields(verdict, [("key_id", "key_id"), ("api_id", "api_id"),
                                   ("owner_id", "owner_id"), ("name", "name"),
                                   ("permissions", "permissions"), ("expires_at", "expires_at"),
                                   ("credits_remaining", "credits_remaining")])
    if not verdict.get("valid"):
        raise typer.Exit(1)
