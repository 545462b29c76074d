"""`keyplane root-keys ...`: more keys for the management API (`/v1/root-keys`)."""

from __future__ import annotations

from typing import Annotated

import typer

from keyplane.cli.client import (
    DEFAULT_URL,
    RootKeyOption,
    UrlOption,
    connect,
    resource,
)
from keyplane.cli.output import (
    Column,
    JsonOption,
    print_object,
    show_secret,
)
from keyplane.cli.resource_commands import add_get_command, add_list_command
from keyplane.credentials.format import has_key_shape

app = typer.Typer(help="Root keys: the credentials of the management API.", no_args_is_help=True)


def _not_a_root_key(value: str) -> str:
    # A pasted secret is never sent (it would sit in a URL, the server's access log) nor echoed.
    if has_key_shape(value):
        raise typer.BadParameter("that is a root key itself, not its id (key_...); it was not "
                                 "sent anywhere. `keyplane root-keys list` shows the ids.")
    return value


RootKeyId = Annotated[str, typer.Argument(help="The root key's id (key_...).", show_default=False,
                                          callback=_not_a_root_key)]

ROOT_KEY_FIELDS: list[Column] = [("id", "id"), ("name", "name"), ("start", "start"),
                                 ("permissions", "permissions"), ("api_id", "api_id"),
                                 ("created_at", "created_at")]
ROOT_KEY_COLUMNS: list[Column] = [("id", "id"), ("name", "name"), ("start", "start"),
                                  ("permissions", "permissions"), ("api", "api_id"),
                                  ("created", "created_at")]


@app.command("create")
def create_root_key(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. 'ci'.")],
    permissions: Annotated[list[str], typer.Option(
        "--permission", "-p", metavar="PERMISSION", show_default=False,
        help="keys.read, keys.write, keys.verify, apis.read, apis.write, root_keys.read, "
             "root_keys.write, audit.read, metrics.read, a group such as keys.*, or * "
             "(repeat for more).")],
    api_id: Annotated[str | None, typer.Option(
        "--api-id", metavar="API_ID", show_default=False,
        help="Bind the key to one API: it reaches only that API's keys and holds only keys.* "
             "and tokens.* permissions. The key of an API's SDK: --api-id api_... "
             "--permission keys.verify.")] = None,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Create a root key; it is printed once, never again.

    Give each key only what its user needs. For the SDK in an API, a key bound to that API
    with keys.verify: keyplane root-keys create documents-sdk --api-id api_... -p keys.verify
    """
    body: dict[str, object] = {"name": name, "permissions": permissions}
    if api_id is not None:
        body["api_id"] = api_id
    with connect(url, root_key) as client:
        issued = client.post("/v1/root-keys", body)
    print_object(issued, ROOT_KEY_FIELDS, json_output=json_output,
                 headline=f"Created root key {issued['id']}")
    if json_output:  # the key is in the JSON already
        return
    show_secret("Root key", issued["key"],
                note="Use it as KEYPLANE_ROOT_KEY, or over HTTP as Authorization: Bearer <key>.")


add_list_command(app, "/v1/root-keys", ROOT_KEY_COLUMNS, doc="List root keys (never their plaintext).",
                 empty="No root keys.")


add_get_command(app, "/v1/root-keys", ROOT_KEY_FIELDS, id_name="key_id", id_type=RootKeyId,
                doc="Show one root key.")


@app.command("delete")
def delete_root_key(key_id: RootKeyId, json_output: JsonOption = False,
                    url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None) -> None:
    """Delete a root key: it stops working at once."""
    with connect(url, root_key) as client:
        client.delete(resource("/v1/root-keys", key_id))
    if not json_output:
        typer.echo(f"Deleted root key {key_id}")
