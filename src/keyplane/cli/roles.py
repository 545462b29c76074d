"""`keyplane roles ...`: roles of people (`/v1/roles`) — the scopes they restrict."""

from __future__ import annotations

from typing import Annotated

import typer

from keyplane.cli.client import DEFAULT_URL, RootKeyOption, UrlOption, connect, resource
from keyplane.cli.output import (
    Column,
    JsonOption,
    print_json,
    print_object,
    print_table,
)

app = typer.Typer(help="Define, list and delete roles of people: a scope a role names is "
                       "granted only to users holding such a role.", no_args_is_help=True)

RoleName = Annotated[str, typer.Argument(help="The role's name, e.g. admin.", show_default=False)]
ROLE_FIELDS: list[Column] = [("name", "name"), ("scopes", "scopes"), ("created_at", "created_at"),
                             ("updated_at", "updated_at")]
ROLE_COLUMNS: list[Column] = [("name", "name"), ("scopes", "scopes"), ("updated", "updated_at")]


@app.command("set")
def set_role(
    name: RoleName,
    scopes: Annotated[list[str] | None, typer.Option(
        "--scope", "-s", metavar="SCOPE", help="A scope the role names (repeat for more); the "
        "list replaces the role's.")] = None,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Create or replace a role."""
    with connect(url, root_key) as client:
        role = client.put(resource("/v1/roles", name), {"scopes": scopes or []})
    print_object(role, ROLE_FIELDS, json_output=json_output, headline=f"Set role {role['name']}")


@app.command("list")
def list_roles(json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
               root_key: RootKeyOption = None) -> None:
    """List roles."""
    with connect(url, root_key) as client:
        page = client.get("/v1/roles")
    if json_output:
        print_json(page)
    else:
        print_table(page["items"], ROLE_COLUMNS, empty="No roles yet: `keyplane roles set NAME -s SCOPE`.")


@app.command("delete")
def delete_role(name: RoleName, json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
                root_key: RootKeyOption = None) -> None:
    """Delete a role (refused while users hold it)."""
    with connect(url, root_key) as client:
        client.delete(resource("/v1/roles", name))
    if not json_output:
        typer.echo(f"Deleted role {name}")
