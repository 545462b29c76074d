"""`keyplane resource-servers ...`: APIs whose access tokens are encrypted to their own key
(`/v1/resource-servers`). Only public keys are sent; the service refuses a private one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

from keyplane.cli.client import (
    DEFAULT_URL,
    RootKeyOption,
    UrlOption,
    connect,
    resource,
)
from keyplane.cli.json_option import json_object
from keyplane.cli.output import Column, JsonOption, print_object
from keyplane.cli.resource_commands import add_get_command, add_list_command

app = typer.Typer(help="Register the APIs whose JWT access tokens are encrypted to their key.",
                  no_args_is_help=True)

ServerId = Annotated[str, typer.Argument(help="The resource server's id (rs_...).",
                                         show_default=False)]
Jwk = Annotated[str | None, typer.Option(
    "--jwk", metavar="JSON|@FILE", help="The API's public encryption key as a JWK (RSA with "
    "RSA-OAEP-256 or EC with ECDH-ES+A256KW): JSON, or @path to read it from a file "
    '("@-": standard input).')]


def _jwk(raw: str) -> dict[str, Any]:
    return json_object(raw, option="--jwk", expected='a JWK: {"kty": ...}')


def _key(server: Mapping[str, Any]) -> str:
    jwk = server.get("encryption_jwk") or {}
    return f"{jwk.get('kty')} {jwk.get('alg')} (kid {jwk.get('kid')})"


FIELDS: list[Column] = [
    ("id", "id"), ("audience", "audience"), ("key", _key), ("created_at", "created_at"),
    ("updated_at", "updated_at"),
]
COLUMNS: list[Column] = [("id", "id"), ("audience", "audience"), ("key", _key),
                         ("created", "created_at")]


@app.command("create")
def create_server(
    audience: Annotated[str, typer.Argument(help="The aud of its tokens, e.g. https://api.example.com.")],
    jwk: Jwk = None, json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
    root_key: RootKeyOption = None,
) -> None:
    """Register a resource server: its JWT access tokens are encrypted from now on."""
    if jwk is None:
        raise typer.BadParameter("the API's public key is required", param_hint="--jwk")
    with connect(url, root_key) as client:
        created = client.post("/v1/resource-servers", {"audience": audience,
                                                       "encryption_jwk": _jwk(jwk)})
    print_object(created, FIELDS, json_output=json_output,
                 headline=f"Created resource server {created['id']}")


add_list_command(app, "/v1/resource-servers", COLUMNS, doc="List resource servers.",
                 empty="No resource servers yet: `keyplane resource-servers create AUDIENCE --jwk ...`.")


add_get_command(app, "/v1/resource-servers", FIELDS, id_name="server_id", id_type=ServerId,
                doc="Show one resource server.")


@app.command("update")
def update_server(
    server_id: ServerId,
    audience: Annotated[str | None, typer.Option("--audience", help="A new audience.")] = None,
    jwk: Jwk = None, json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
    root_key: RootKeyOption = None,
) -> None:
    """Change a resource server's audience or key (tokens issued from now on use it)."""
    body: dict[str, Any] = {}
    if audience is not None:
        body["audience"] = audience
    if jwk is not None:
        body["encryption_jwk"] = _jwk(jwk)
    if not body:
        raise typer.BadParameter("nothing to change: give --audience or --jwk", param_hint="options")
    with connect(url, root_key) as client:
        updated = client.patch(resource("/v1/resource-servers", server_id), body)
    print_object(updated, FIELDS, json_output=json_output,
                 headline=f"Updated resource server {updated['id']}")


@app.command("delete")
def delete_server(server_id: ServerId, json_output: JsonOption = False,
                  url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None) -> None:
    """Delete a resource server: its tokens are signed JWTs again, no longer encrypted."""
    with connect(url, root_key) as client:
        client.delete(resource("/v1/resource-servers", server_id))
    if not json_output:
        typer.echo(f"Deleted resource server {server_id}")
