"""`keyplane clients ...`: OAuth clients (`/v1/clients`).

A client secret is printed once, by `create` and `roll-secret`; every other command shows
only its display start. The service checks every rule (grant types, redirect URIs, key
sets...) and its field errors are printed as they come.
"""

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
from keyplane.cli.output import (
    Column,
    JsonOption,
    print_object,
    show_secret,
)
from keyplane.cli.resource_commands import add_get_command, add_list_command

app = typer.Typer(help="Register, inspect, update and delete OAuth clients; roll their secrets.",
                  no_args_is_help=True)

ClientId = Annotated[str, typer.Argument(help="The client's id (cli_...).", show_default=False)]
GrantTypes = Annotated[list[str] | None, typer.Option(
    "--grant-type", "-g", metavar="GRANT", help="client_credentials, authorization_code, "
    "refresh_token, urn:ietf:params:oauth:grant-type:device_code or ...:token-exchange "
    "(repeat for more); replaces the list on update.")]
RedirectUris = Annotated[list[str] | None, typer.Option(
    "--redirect-uri", metavar="URI", help="An exact redirect URI (repeat for more); replaces the "
    "list on update.")]
Scopes = Annotated[list[str] | None, typer.Option(
    "--scope", "-s", metavar="SCOPE", help="A scope the client may be granted (repeat for more); "
    "replaces the list on update.")]
Audiences = Annotated[list[str] | None, typer.Option(
    "--audience", "-a", metavar="URI", help="An API its tokens are for (repeat; the first is the "
    "default aud); replaces the list on update.")]
TokenFormat = Annotated[str | None, typer.Option(
    "--token-format", metavar="FORMAT", help="jwt (the default) or opaque.")]
AuthMethod = Annotated[str | None, typer.Option(
    "--auth-method", metavar="METHOD", help="client_secret_basic (default for confidential), "
    "client_secret_post, private_key_jwt, or none (public).")]
AccessTtl = Annotated[int | None, typer.Option(
    "--access-token-ttl-seconds", metavar="SECONDS", help="Access token lifetime (10 to 86400; "
    "default: the service's).")]
RefreshTtl = Annotated[int | None, typer.Option(
    "--refresh-token-ttl-seconds", metavar="SECONDS", help="Refresh token lifetime (default: "
    "the service's).")]
RefreshIdle = Annotated[int | None, typer.Option(
    "--refresh-token-idle-seconds", metavar="SECONDS", help="How long a refresh token may go "
    "unused before it expires (default: the service's).")]
PkceRequired = Annotated[bool | None, typer.Option(
    "--pkce-required/--pkce-optional", show_default=False, help="Whether authorization requests "
    "must carry PKCE (default: required; only a confidential client may make it optional).")]
Jwks = Annotated[str | None, typer.Option(
    "--jwks", metavar="JSON|@FILE", help='The public keys of a private_key_jwt client: a JWK Set '
    'as JSON, or @path to read it from a file ("@-": standard input).')]

DpopBound = Annotated[bool | None, typer.Option(
    "--dpop-bound/--no-dpop-bound", help="Every token request must carry a DPoP proof "
    "(RFC 9449 dpop_bound_access_tokens).", show_default=False)]
RequirePar = Annotated[bool | None, typer.Option(
    "--require-par/--no-require-par", help="Authorization requests only through the PAR "
    "endpoint (RFC 9126 require_pushed_authorization_requests).", show_default=False)]

PostLogoutRedirectUris = Annotated[list[str] | None, typer.Option(
    "--post-logout-redirect-uri", metavar="URI", help="Where OpenID Connect logout may send "
    "the user back to (repeat for more; exact match).")]

CLEARABLE: dict[str, Any] = {"redirect_uris": [], "post_logout_redirect_uris": [], "scopes": [],
             "audiences": [], "jwks": None,
             "access_token_ttl_seconds": None, "refresh_token_ttl_seconds": None,
             "refresh_token_idle_seconds": None}


def _jwks(raw: str) -> dict[str, Any]:
    return json_object(raw, option="--jwks", expected='a JWK Set: {"keys": [...]}')


def _fields(*, grant_types: list[str] | None, redirect_uris: list[str] | None,
            scopes: list[str] | None, audiences: list[str] | None, token_format: str | None,
            auth_method: str | None, access_ttl: int | None, refresh_ttl: int | None,
            jwks: str | None, refresh_idle: int | None = None, dpop_bound: bool | None = None,
            require_par: bool | None = None,
            post_logout_redirect_uris: list[str] | None = None) -> dict[str, Any]:
    """The request fields for the options given; an option left out is not sent."""
    body: dict[str, Any] = {}
    for field, value in (("grant_types", grant_types), ("redirect_uris", redirect_uris),
                         ("scopes", scopes), ("audiences", audiences),
                         ("token_format", token_format), ("token_endpoint_auth_method", auth_method),
                         ("access_token_ttl_seconds", access_ttl),
                         ("refresh_token_ttl_seconds", refresh_ttl),
                         ("refresh_token_idle_seconds", refresh_idle),
                         ("dpop_bound_access_tokens", dpop_bound),
                         ("require_pushed_authorization_requests", require_par),
                         ("post_logout_redirect_uris", post_logout_redirect_uris)):
        if value is not None:
            body[field] = value
    if jwks is not None:
        body["jwks"] = _jwks(jwks)
    return body


def _keys(client: Mapping[str, Any]) -> str | None:
    jwks = client.get("jwks")
    if not isinstance(jwks, dict):
        return None
    keys = [k for k in jwks.get("keys") or [] if isinstance(k, dict)]
    kids = [str(k.get("kid") or k.get("kty")) for k in keys]
    return f"{len(keys)} key{'s' if len(keys) != 1 else ''} ({', '.join(kids)})"


def _ttl(name: str) -> Any:
    def render(client: Mapping[str, Any]) -> str:
        value = client.get(name)
        return "service default" if value is None else f"{value}s"
    return render


CLIENT_FIELDS: list[Column] = [
    ("client_id", "client_id"), ("name", "name"), ("type", "type"),
    ("grant_types", "grant_types"), ("redirect_uris", "redirect_uris"), ("scopes", "scopes"),
    ("audiences", "audiences"), ("token_format", "token_format"),
    ("auth_method", "token_endpoint_auth_method"),
    ("access_token_ttl", _ttl("access_token_ttl_seconds")),
    ("refresh_token_ttl", _ttl("refresh_token_ttl_seconds")),
    ("refresh_idle", _ttl("refresh_token_idle_seconds")), ("pkce_required", "pkce_required"),
    ("jwks", _keys),
    ("dpop_bound", "dpop_bound_access_tokens"),
    ("require_par", "require_pushed_authorization_requests"),
    ("logout_redirects", "post_logout_redirect_uris"),
    ("secret_start", "client_secret_start"), ("created_at", "created_at"),
    ("updated_at", "updated_at"),
]
CLIENT_COLUMNS: list[Column] = [
    ("client_id", "client_id"), ("name", "name"), ("type", "type"),
    ("grant_types", "grant_types"), ("auth_method", "token_endpoint_auth_method"),
    ("secret", "client_secret_start"), ("created", "created_at"),
]
SECRET_NOTE = ("The client authenticates at the token endpoint with its client_id and this "
               "secret, by its auth_method ({method}).")


def _no_secret_note(client: Mapping[str, Any]) -> str | None:
    method = client.get("token_endpoint_auth_method")
    if method == "none":
        return "No secret: a public client sends only its client_id."
    if method == "private_key_jwt":
        return "No secret: the client signs its assertions with a key of its JWKS."
    if not client.get("client_secret_start"):
        return (f"This client has no secret yet: `keyplane clients roll-secret "
                f"{client.get('client_id')}` makes one.")
    return None


def _show(client: dict[str, Any], json_output: bool, headline: str) -> None:
    print_object(client, CLIENT_FIELDS, json_output=json_output, headline=headline)
    if json_output:  # the secret is in the JSON already
        return
    secret = client.get("client_secret")
    if secret:
        show_secret("Client secret", secret,
                    note=SECRET_NOTE.format(method=client.get("token_endpoint_auth_method")))
        return
    note = _no_secret_note(client)
    if note:
        typer.echo("")
        typer.echo(note)


@app.command("create")
def create_client(
    name: Annotated[str, typer.Argument(help="A name for people, e.g. 'billing backend'.")],
    client_type: Annotated[str | None, typer.Option(
        "--type", metavar="TYPE", help="confidential (the default) or public.")] = None,
    grant_types: GrantTypes = None, redirect_uris: RedirectUris = None, scopes: Scopes = None,
    audiences: Audiences = None, token_format: TokenFormat = None, auth_method: AuthMethod = None,
    access_ttl: AccessTtl = None, refresh_ttl: RefreshTtl = None, jwks: Jwks = None,
    refresh_idle: RefreshIdle = None, pkce_required: PkceRequired = None,
    dpop_bound: DpopBound = None, require_par: RequirePar = None,
    post_logout_redirect_uris: PostLogoutRedirectUris = None,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Register a client; its secret, if it has one, is printed once, never again."""
    body = {"name": name, **_fields(
        grant_types=grant_types, redirect_uris=redirect_uris, scopes=scopes, audiences=audiences,
        token_format=token_format, auth_method=auth_method, access_ttl=access_ttl,
        refresh_ttl=refresh_ttl, jwks=jwks, refresh_idle=refresh_idle, dpop_bound=dpop_bound,
        require_par=require_par, post_logout_redirect_uris=post_logout_redirect_uris)}
    if client_type is not None:
        body["type"] = client_type
    if pkce_required is not None:
        body["pkce_required"] = pkce_required
    with connect(url, root_key) as client:
        created = client.post("/v1/clients", body)
    _show(created, json_output, f"Created client {created['client_id']}")


add_list_command(app, "/v1/clients", CLIENT_COLUMNS, doc="List clients (never their secrets).",
                 empty="No clients yet: `keyplane clients create NAME`.")


add_get_command(app, "/v1/clients", CLIENT_FIELDS, id_name="client_id", id_type=ClientId,
                doc="Show one client.")


@app.command("update")
def update_client(
    client_id: ClientId,
    name: Annotated[str | None, typer.Option("--name", help="A new name.")] = None,
    grant_types: GrantTypes = None, redirect_uris: RedirectUris = None, scopes: Scopes = None,
    audiences: Audiences = None, token_format: TokenFormat = None, auth_method: AuthMethod = None,
    access_ttl: AccessTtl = None, refresh_ttl: RefreshTtl = None, jwks: Jwks = None,
    refresh_idle: RefreshIdle = None, pkce_required: PkceRequired = None,
    dpop_bound: DpopBound = None, require_par: RequirePar = None,
    post_logout_redirect_uris: PostLogoutRedirectUris = None,
    clear: Annotated[list[str] | None, typer.Option(
        "--clear", metavar="FIELD", help=f"Empty or reset a field: {', '.join(CLEARABLE)} "
        "(repeat for more).")] = None,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Change a client; only the options given change, and the result must follow every rule."""
    body = _fields(grant_types=grant_types, redirect_uris=redirect_uris, scopes=scopes,
                   audiences=audiences, token_format=token_format, auth_method=auth_method,
                   access_ttl=access_ttl, refresh_ttl=refresh_ttl, jwks=jwks,
                   refresh_idle=refresh_idle, dpop_bound=dpop_bound, require_par=require_par,
                   post_logout_redirect_uris=post_logout_redirect_uris)
    if name is not None:
        body["name"] = name
    if pkce_required is not None:
        body["pkce_required"] = pkce_required
    for field in clear or []:
        if field not in CLEARABLE:
            raise typer.BadParameter(f"{field!r} is not one of {', '.join(CLEARABLE)}",
                                     param_hint="--clear")
        if field in body:
            raise typer.BadParameter(f"give {field} or --clear {field}, not both", param_hint="--clear")
        body[field] = CLEARABLE[field]
    if not body:
        raise typer.BadParameter("nothing to change: give at least one option", param_hint="options")
    with connect(url, root_key) as client:
        updated = client.patch(resource("/v1/clients", client_id), body)
    _show(updated, json_output, f"Updated client {updated['client_id']}")


@app.command("delete")
def delete_client(client_id: ClientId, json_output: JsonOption = False,
                  url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None) -> None:
    """Delete a client for good: it can no longer authenticate."""
    with connect(url, root_key) as client:
        client.delete(resource("/v1/clients", client_id))
    if not json_output:
        typer.echo(f"Deleted client {client_id}")


@app.command("roll-secret")
def roll_secret(
    client_id: ClientId,
    grace_seconds: Annotated[int | None, typer.Option(
        "--grace-seconds", min=0, help="Keep the current secret working this long (default 0).")] = None,
    json_output: JsonOption = False, url: UrlOption = DEFAULT_URL, root_key: RootKeyOption = None,
) -> None:
    """Replace a client's secret by a new one, printed once."""
    body = {} if grace_seconds is None else {"grace_seconds": grace_seconds}
    with connect(url, root_key) as client:
        rolled = client.post(resource("/v1/clients", client_id, "secret", "roll"), body)
    grace = f"; the previous one works for {grace_seconds} more seconds" if grace_seconds else ""
    _show(rolled, json_output, f"Rolled the secret of client {client_id}{grace}")
