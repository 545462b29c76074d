"""`keyplane signing-keys ...`: the keys that sign access tokens (`/v1/signing-keys`)."""

from __future__ import annotations

from typing import Annotated

import typer

from keyplane.cli.client import DEFAULT_URL, RootKeyOption, UrlOption, connect
from keyplane.cli.output import (
    Column,
    JsonOption,
    print_fields,
    print_json,
    print_table,
)

app = typer.Typer(help="Signing keys: list them, rotate them.", no_args_is_help=True)

SIGNING_KEY_COLUMNS: list[Column] = [
    ("kid", "kid"), ("alg", "alg"), ("status", "status"), ("created", "created_at"),
    ("activates", "activates_at"), ("retires", "retires_at"), ("withdrawn", "withdrawn_at")]
SIGNING_KEY_FIELDS: list[Column] = [
    ("kid", "kid"), ("alg", "alg"), ("status", "status"), ("created_at", "created_at"),
    ("activates_at", "activates_at"), ("retires_at", "retires_at"),
    ("withdrawn_at", "withdrawn_at")]

Immediate = Annotated[bool, typer.Option(
    "--immediate",
    help="For a compromised key: the new key signs at once and the current one is withdrawn "
         "from the JWKS at once (tokens it signed stop verifying).")]


@app.command("list")
def list_signing_keys(json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
                      root_key: RootKeyOption = None) -> None:
    """List signing keys, newest first, with their status (no private material)."""
    with connect(url, root_key) as client:
        found = client.get("/v1/signing-keys")
    if json_output:
        print_json(found)
    else:
        print_table(found["items"], SIGNING_KEY_COLUMNS, empty="No signing keys yet.")


@app.command("rotate")
def rotate_signing_key(immediate: Immediate = False, json_output: JsonOption = False,
                       url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None) -> None:
    """Make the next signing key: published now, signing after the publish-ahead period
    (or at once with --immediate)."""
    with connect(url, root_key) as client:
        created = client.post("/v1/signing-keys/rotate", {"immediate": immediate})
    if json_output:
        print_json(created)
        return
    when = "now" if created["status"] == "active" else f"from {created['activates_at']}"
    typer.echo(f"Created signing key {created['kid']} ({created['alg']}); it signs {when}")
    print_fields(created, SIGNING_KEY_FIELDS)
