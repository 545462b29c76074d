"""`keyplane login`: the device flow (RFC 8628) from the device's side, against any keyplane
issuer — what a CLI, a TV or an IoT device does to get tokens for its user.

It reads the issuer's metadata (RFC 8414; the `issuer` it names must be the one asked for,
§3.3), asks the device authorization endpoint for codes, tells the user where to go and
which code to enter (on stderr), then polls the token endpoint: waiting `interval` seconds
between requests, 5 more after each `slow_down` (§3.5), until the user approves (the token
response is printed as JSON on stdout, or written to `--save FILE` with mode 0600), denies,
or the code expires (exit status 1 for both).

The token response holds secrets: stdout is for piping into the program that uses them
(`keyplane login ... | jq -r .access_token`); `--save` keeps them in a file only the user can
read. Nothing else is written anywhere.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from keyplane.cli.errors import BadConfiguration, CliError

METADATA_PATH = "/.well-known/oauth-authorization-server"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
TIMEOUT_SECONDS = 15.0
SLOW_DOWN_SECONDS = 5
DEFAULT_INTERVAL = 5  # RFC 8628 §3.2: when the server names none


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise CliError(f"{what} answered {response.status_code} without a JSON object")
    return body


def _oauth_error(body: dict[str, Any]) -> str:
    error = str(body.get("error", "error"))
    description = body.get("error_description")
    return f"{error}: {description}" if description else error


def discover(http: httpx.Client, issuer: str) -> dict[str, Any]:
    """The issuer's metadata; refuses one that names another issuer (RFC 8414 §3.3)."""
    response = http.get(issuer + METADATA_PATH)
    if response.status_code != 200:
        raise CliError(f"{issuer} has no OAuth metadata ({response.status_code} at {METADATA_PATH})")
    metadata = _json(response, "the metadata endpoint")
    if metadata.get("issuer") != issuer:
        raise CliError(f"the metadata names the issuer {metadata.get('issuer')!r}, not {issuer!r}")
    for name in ("device_authorization_endpoint", "token_endpoint"):
        if not isinstance(metadata.get(name), str):
            raise CliError(f"{issuer} does not offer the device flow (no {name})")
    return metadata


def run_device_flow(http: httpx.Client, metadata: dict[str, Any], *, client_id: str,
                    authenticated: bool, scope: str | None, resources: list[str],
                    tell: Callable[[str], None],
                    sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Codes, then polls until the token response; raises CliError when denied or expired.
    `http` carries the client's credentials when it has some (`authenticated`); a public
    client names itself with `client_id`."""
    params: dict[str, Any] = {} if authenticated else {"client_id": client_id}
    if scope:
        params["scope"] = scope
    if resources:
        params["resource"] = resources
    response = http.post(metadata["device_authorization_endpoint"], data=params)
    body = _json(response, "the device authorization endpoint")
    if response.status_code != 200:
        raise CliError(f"the device authorization was refused ({_oauth_error(body)})")
    try:
        device_code, user_code = str(body["device_code"]), str(body["user_code"])
        verification_uri = str(body["verification_uri"])
        expires_in = int(body["expires_in"])
        interval = int(body.get("interval", DEFAULT_INTERVAL))
    except (KeyError, TypeError, ValueError):
        raise CliError("the device authorization endpoint answered without its fields") from None
    complete = body.get("verification_uri_complete")
    tell(f"To sign in, open {verification_uri} and enter the code {user_code}")
    if isinstance(complete, str):
        tell(f"  (or open {complete})")
    deadline = time.monotonic() + expires_in
    poll = {"grant_type": DEVICE_GRANT, "device_code": device_code,
            **({} if authenticated else {"client_id": client_id})}
    while True:
        sleep(interval)
        if time.monotonic() > deadline:
            raise CliError("the code expired before it was approved; run keyplane login again")
        response = http.post(metadata["token_endpoint"], data=poll)
        body = _json(response, "the token endpoint")
        if response.status_code == 200:
            return body
        error = body.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += SLOW_DOWN_SECONDS
            continue
        if error == "access_denied":
            raise CliError("the request was denied")
        if error == "expired_token":
            raise CliError("the code expired before it was approved; run keyplane login again")
        raise CliError(f"the token endpoint refused ({_oauth_error(body)})")


def _save(path: Path, tokens: dict[str, Any]) -> None:
    # Created with mode 0600 before anything is written: the tokens are never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(tokens, f, indent=2)
        f.write("\n")


def login(
    issuer: Annotated[str, typer.Option("--issuer", envvar="KEYPLANE_ISSUER", show_envvar=True,
                                        help="The issuer URL of a keyplane service.")],
    client_id: Annotated[str, typer.Option("--client-id", help="The OAuth client of this device.")],
    scope: Annotated[list[str] | None, typer.Option(
        "--scope", help="A scope to ask for (repeat, or space-separated); default: the client's.")] = None,
    resource: Annotated[list[str] | None, typer.Option(
        "--resource", help="An API (RFC 8707 resource) to get the token for (repeatable).")] = None,
    client_secret: Annotated[str | None, typer.Option(
        "--client-secret", envvar="KEYPLANE_CLIENT_SECRET", show_envvar=True, show_default=False,
        help="For a confidential client (prefer the environment variable).")] = None,
    save: Annotated[Path | None, typer.Option(
        "--save", help="Write the token response to this file (mode 0600) instead of stdout.")] = None,
) -> None:
    """Sign in through the device flow: prints where to go and the code to enter, waits
    for approval, then prints the token response as JSON (or saves it with --save)."""
    issuer = issuer.rstrip("/")
    if not issuer.startswith(("https://", "http://")):
        raise BadConfiguration("--issuer must be an http(s) URL")
    scopes = " ".join(" ".join(scope or []).split()) or None

    def tell(line: str) -> None:
        typer.echo(line, err=True)

    try:
        credentials = httpx.BasicAuth(client_id, client_secret) if client_secret else None
        with httpx.Client(timeout=TIMEOUT_SECONDS, auth=credentials,
                          headers={"User-Agent": "keyplane-cli", "Accept": "application/json"}) as http:
            metadata = discover(http, issuer)
            tokens = run_device_flow(http, metadata, client_id=client_id,
                                     authenticated=credentials is not None, scope=scopes,
                                     resources=list(resource or []), tell=tell)
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach {issuer}: {exc}") from None
    if save is not None:
        _save(save, tokens)
        tell(f"Signed in. The tokens are in {save}.")
    else:
        tell("Signed in.")
        typer.echo(json.dumps(tokens, indent=2))
