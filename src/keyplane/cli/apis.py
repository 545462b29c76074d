"""`keyplane apis ...`: the APIs keys belong to, and their roles (`/v1/apis`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer

from keyplane.cli.client import (
    DEFAULT_URL,
    HttpProblem,
    RootKeyOption,
    UrlOption,
    connect,
    resource,
)
from keyplane.cli.output import (
    Column,
    JsonOption,
    print_json,
    print_object,
    print_table,
)
from keyplane.cli.resource_commands import add_get_command, add_list_command

app = typer.Typer(help="Create, list and delete APIs and their roles.", no_args_is_help=True)
roles = typer.Typer(help="Roles: named sets of permissions that keys of an API can hold.",
                    no_args_is_help=True)
app.add_typer(roles, name="roles")

def _rotation(api: Mapping[str, Any]) -> str:
    days = api.get("rotation_days")
    return "-" if days is None else f"every {days} days"


API_FIELDS: list[Column] = [("id", "id"), ("name", "name"), ("key_prefix", "key_prefix"),
                            ("rotation", _rotation), ("created_at", "created_at")]
API_COLUMNS: list[Column] = [("id", "id"), ("name", "name"), ("key prefix", "key_prefix"),
                             ("created", "created_at")]
ROLE_COLUMNS: list[Column] = [("name", "name"), ("permissions", "permissions"),
                              ("updated", "updated_at")]

ApiId = Annotated[str, typer.Argument(help="The API's id (api_...).", show_default=False)]
RoleName = Annotated[str, typer.Argument(help="The role's name.", show_default=False)]


def _path(api_id: str, *rest: str) -> str:
    return resource("/v1/apis", api_id, *rest)


@app.command("create")
def create_api(
    name: Annotated[str, typer.Argument(help="A name for people, e.g. 'documents'.")],
    key_prefix: Annotated[str | None, typer.Option(
        "--key-prefix", help="Prefix of this API's keys, e.g. sk_live (default: the service's).")] = None,
    rotation_days: Annotated[int | None, typer.Option(
        "--rotation-days", help="Keys older than this open a key.rotation_due alert.")] = None,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Create an API."""
    body: dict[str, Any] = {"name": name}
    if key_prefix is not None:
        body["key_prefix"] = key_prefix
    if rotation_days is not None:
        body["rotation_days"] = rotation_days
    with connect(url, root_key) as client:
        api = client.post("/v1/apis", body)
    print_object(api, API_FIELDS, json_output=json_output, headline=f"Created API {api['id']}")
    if not json_output:
        typer.echo(f"\nThe root key for this API's SDK (it can verify this API's keys, nothing "
                   f"else):\n  keyplane root-keys create {name!r} --api-id {api['id']} "
                   f"--permission keys.verify")


add_list_command(app, "/v1/apis", API_COLUMNS, doc="List APIs.",
                 empty="No APIs yet: `keyplane apis create NAME`.")


add_get_command(app, "/v1/apis", API_FIELDS, id_name="api_id", id_type=ApiId, doc="Show one API.")


@app.command("delete")
def delete_api(
    api_id: ApiId,
    force: Annotated[bool, typer.Option("--force", help="Delete the API's keys too.")] = False,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Delete an API (refused while it has keys, unless --force)."""
    with connect(url, root_key) as client:
        try:
            client.delete(_path(api_id), {"force": True} if force else None)
        except HttpProblem as problem:
            if problem.status == 409 and not force:
                problem.details.append("Pass --force to delete the API together with its keys.")
            raise
    if not json_output:
        typer.echo(f"Deleted API {api_id}")


@roles.command("put")
def put_role(
    api_id: ApiId, name: RoleName,
    permissions: Annotated[list[str] | None, typer.Option(
        "--permission", "-p", metavar="PERMISSION", help="A permission the role grants (repeat for more).")] = None,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Create a role, or replace its permissions."""
    with connect(url, root_key) as client:
        role = client.put(_path(api_id, "roles", name), {"permissions": permissions or []})
    if json_output:
        print_json(role)
    else:
        typer.echo(f"Role {role['name']} of {role['api_id']} grants: "
                   f"{', '.join(role['permissions']) or '(nothing)'}")


@roles.command("list")
def list_roles(api_id: ApiId, json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
               root_key: RootKeyOption = None) -> None:
    """List an API's roles."""
    with connect(url, root_key) as client:
        page = client.get(_path(api_id, "roles"))
    if json_output:
        print_json(page)
    else:
        print_table(page["items"], ROLE_COLUMNS, empty="No roles.")


@roles.command("delete")
def delete_role(api_id: ApiId, name: RoleName, json_output: JsonOption = False,
                url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None) -> None:
    """Delete a role (refused while a key holds it)."""
    with connect(url, root_key) as client:
        client.delete(_path(api_id, "roles", name))
    if not json_output:
        typer.echo(f"Deleted role {name} of {api_id}")
