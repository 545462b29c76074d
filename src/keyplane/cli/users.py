"""`keyplane users ...`: people who log in (`/v1/users`), and their consents.

A password is never an argument (arguments show up in `ps` and shell history): it is
asked for, hidden and twice, or read from standard input with `--password-stdin`.
"""

from __future__ import annotations

import sys
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
from keyplane.cli.errors import BadConfiguration
from keyplane.cli.output import (
    Column,
    JsonOption,
    print_json,
    print_object,
    print_table,
)
from keyplane.cli.resource_commands import add_get_command, add_list_command

app = typer.Typer(help="Create, inspect, update, disable and delete users; see and withdraw "
                       "their consents.", no_args_is_help=True)

UserId = Annotated[str, typer.Argument(help="The user's id (usr_...).", show_default=False)]
Roles = Annotated[list[str] | None, typer.Option(
    "--role", "-r", metavar="ROLE", help="A role defined with `keyplane roles set` (repeat for "
    "more); replaces the list on update.")]
PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of standard input "
    "instead of asking for it.")]
Name = Annotated[str | None, typer.Option(
    "--name", help="The person's name as shown (OpenID Connect's `name` claim, scope profile).")]
Email = Annotated[str | None, typer.Option(
    "--email", help="Their email address (the `email` claim, scope email); a new address is "
    "unverified unless --email-verified is given too.")]
EmailVerified = Annotated[bool | None, typer.Option(
    "--email-verified/--no-email-verified", show_default=False, help="Whether you vouch that "
    "the address is theirs (keyplane sends no mail; default: not verified).")]


def _status(user: Mapping[str, Any]) -> str:
    return "disabled" if user.get("disabled") else "active"


def _email(user: Mapping[str, Any]) -> str | None:
    email = user.get("email")
    if not email:
        return None
    return f"{email} ({'verified' if user.get('email_verified') else 'unverified'})"


USER_FIELDS: list[Column] = [
    ("id", "id"), ("username", "username"), ("name", "name"), ("email", _email),
    ("roles", "roles"), ("status", _status),
    ("created_at", "created_at"), ("updated_at", "updated_at"), ("last_login_at", "last_login_at"),
]
USER_COLUMNS: list[Column] = [
    ("id", "id"), ("username", "username"), ("name", "name"), ("email", "email"),
    ("roles", "roles"), ("status", _status),
    ("last_login", "last_login_at"),
]
CONSENT_COLUMNS: list[Column] = [("client_id", "client_id"), ("scopes", "scopes"),
                                 ("granted", "granted_at")]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = typer.get_text_stream("stdin").readline()
        password = line.removesuffix("\n")
        if not password:
            raise typer.BadParameter("standard input held no password", param_hint="--password-stdin")
        return password
    if not sys.stdin.isatty():
        # Without a terminal the prompt could neither hide the password nor be answered;
        # fail now rather than with a warning and "Aborted!".
        raise BadConfiguration("no terminal to ask for the password on: pipe it in with "
                               "--password-stdin", [
                                   "e.g.  printf '%s\\n' \"$PASSWORD\" | keyplane users ... "
                                   "--password-stdin"])
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return value


def _profile(*, name: str | None, email: str | None, email_verified: bool | None) -> dict[str, Any]:
    given = {"name": name, "email": email, "email_verified": email_verified}
    return {field: value for field, value in given.items() if value is not None}


def _show(user: dict[str, Any], json_output: bool, headline: str) -> None:
    print_object(user, USER_FIELDS, json_output=json_output, headline=headline)


@app.command("create")
def create_user(
    username: Annotated[str, typer.Argument(help="The name the person logs in with.")],
    roles: Roles = None, name: Name = None, email: Email = None,
    email_verified: EmailVerified = None, password_stdin: PasswordStdin = False,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Create a user; the password is asked for (or read with --password-stdin)."""
    body: dict[str, Any] = {"username": username, "password": _password(password_stdin)}
    if roles:
        body["roles"] = roles
    body.update(_profile(name=name, email=email, email_verified=email_verified))
    with connect(url, root_key) as client:
        created = client.post("/v1/users", body)
    _show(created, json_output, f"Created user {created['id']}")


add_list_command(app, "/v1/users", USER_COLUMNS, doc="List users (never their passwords).",
                 empty="No users yet: `keyplane users create NAME`.")


add_get_command(app, "/v1/users", USER_FIELDS, id_name="user_id", id_type=UserId, doc="Show one user.",
                name="show")


@app.command("update")
def update_user(
    user_id: UserId,
    username: Annotated[str | None, typer.Option("--username", help="A new username.")] = None,
    roles: Roles = None,
    clear_roles: Annotated[bool, typer.Option("--clear-roles", help="Take every role away.")] = False,
    name: Name = None,
    clear_name: Annotated[bool, typer.Option("--clear-name", help="Remove the name.")] = False,
    email: Email = None,
    clear_email: Annotated[bool, typer.Option("--clear-email", help="Remove the email "
                                              "address.")] = False,
    email_verified: EmailVerified = None,
    password: Annotated[bool, typer.Option("--password", help="Set a new password (asked for); "
                                           "ends the user's browser sessions.")] = False,
    password_stdin: PasswordStdin = False, json_output: JsonOption = False,
    url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Change a user; only the options given change."""
    body: dict[str, Any] = {}
    if username is not None:
        body["username"] = username
    if roles and clear_roles:
        raise typer.BadParameter("give --role or --clear-roles, not both", param_hint="--clear-roles")
    if roles or clear_roles:
        body["roles"] = roles or []
    body.update(_profile(name=name, email=email, email_verified=email_verified))
    for field, clear in (("name", clear_name), ("email", clear_email)):
        if clear and field in body:
            raise typer.BadParameter(f"give --{field} or --clear-{field}, not both",
                                     param_hint=f"--clear-{field}")
        if clear:
            body[field] = None
    if password or password_stdin:
        body["password"] = _password(password_stdin)
    if not body:
        raise typer.BadParameter("nothing to change: give at least one option", param_hint="options")
    with connect(url, root_key) as client:
        updated = client.patch(resource("/v1/users", user_id), body)
    _show(updated, json_output, f"Updated user {updated['id']}")


def _set_disabled(user_id: str, disabled: bool, json_output: bool, url: str,
                  root_key: str | None) -> None:
    with connect(url, root_key) as client:
        updated = client.patch(resource("/v1/users", user_id), {"disabled": disabled})
    verb = "Disabled" if disabled else "Enabled"
    _show(updated, json_output, f"{verb} user {updated['id']}")


@app.command("disable")
def disable_user(user_id: UserId, json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
                 root_key: RootKeyOption = None) -> None:
    """Disable a user: they cannot log in, and their browser sessions end at once."""
    _set_disabled(user_id, True, json_output, url, root_key)


@app.command("enable")
def enable_user(user_id: UserId, json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
                root_key: RootKeyOption = None) -> None:
    """Enable a disabled user again."""
    _set_disabled(user_id, False, json_output, url, root_key)


@app.command("delete")
def delete_user(user_id: UserId, json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
                root_key: RootKeyOption = None) -> None:
    """Delete a user with their roles, consents and sessions."""
    with connect(url, root_key) as client:
        client.delete(resource("/v1/users", user_id))
    if not json_output:
        typer.echo(f"Deleted user {user_id}")


@app.command("consents")
def list_consents(user_id: UserId, json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
                  root_key: RootKeyOption = None) -> None:
    """The clients a user has approved, and for which scopes."""
    with connect(url, root_key) as client:
        found = client.get(resource("/v1/users", user_id, "consents"))
    if json_output:
        print_json(found)
    else:
        print_table(found["items"], CONSENT_COLUMNS, empty="No consents.")


@app.command("revoke-consent")
def revoke_consent(user_id: UserId,
                   client_id: Annotated[str, typer.Argument(help="The client's id (cli_...).")],
                   json_output: JsonOption = False, url: UrlOption = DEFAULT_URL,
                   root_key: RootKeyOption = None) -> None:
    """Withdraw a user's consent for a client: they are asked again next time."""
    with connect(url, root_key) as client:
        client.delete(resource("/v1/users", user_id, "consents", client_id))
    if not json_output:
        typer.echo(f"Withdrew the consent of {user_id} for {client_id}")
