"""The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707, RFC 9700), checked.

Two kinds of failure, as §4.1.2.1 demands: while the client or the redirect URI is not
established, nothing may be sent to the URI — `Untrusted` is shown to the person on a
page; after that, every error goes back to the client's redirect URI (`RedirectedError`,
with `state` and `iss`, RFC 9207).

Redirect URIs match registered ones by exact string comparison, except the port of a
loopback redirect URI (`http://127.0.0.1:PORT/...`, `http://[::1]:PORT/...`), which a
native app picks at run time (RFC 8252 §7.3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

from keyplane.errors import InvalidScope, InvalidTarget, NotFound
from keyplane.oauth.audiences import audience_for
from keyplane.oauth.model import GRANT_AUTHORIZATION_CODE, Client
from keyplane.oauth.pkce import S256, is_code_challenge
from keyplane.oauth.id_tokens import MAX_NONCE_LENGTH
from keyplane.oauth.scopes import granted_scopes
from keyplane.oauth.user_claims import OPENID, PROMPT_NONE, PROMPT_VALUES

MAX_STATE_LENGTH = 1024
MAX_PARAMETER_LENGTH = 2048
MAX_PARAMETERS = 30
MAX_AGE_LIMIT = 10 * 366 * 86_400  # a max_age beyond is no limit at all
_LOOPBACK_HOSTS = ("127.0.0.1", "[::1]")
REPEATABLE = {"resource"}


class Untrusted(Exception):
    """The client or the redirect URI is not established: show `message`, never redirect."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RedirectedError(Exception):
    """An error the client hears at its redirect URI (§4.1.2.1)."""

    def __init__(self, error: str, description: str, *, redirect_uri: str,
                 state: str | None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A request every check has passed. `redirect_uri_given` says whether the client
    sent `redirect_uri` (then the token request must repeat it, §4.1.3)."""

    client: Client
    redirect_uri: str
    redirect_uri_given: bool
    state: str | None
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    code_challenge: str | None
    request_uri: str | None = None  # RFC 9126: the pushed request it came from
    # OpenID Connect Core 1.0 §3.1.2.1: echoed in the ID token; how to treat a session.
    nonce: str | None = None
    prompt: frozenset[str] = frozenset()
    max_age: int | None = None

    @property
    def is_openid(self) -> bool:
        return OPENID in self.scope


def _loopback_without_port(uri: str) -> str | None:
    """`uri` with its port removed when it is an http loopback IP literal URI (no user
    information, a valid port or none); else None."""
    parts = urlsplit(uri)
    if parts.scheme != "http" or "@" in parts.netloc:
        return None
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return None
    host = parts.netloc.rsplit(":", 1)[0] if not parts.netloc.endswith("]") else parts.netloc
    if host not in _LOOPBACK_HOSTS:
        return None
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def redirect_uri_matches(requested: str, registered: Sequence[str]) -> bool:
    """Exact string match, or a loopback URI that differs only in its port."""
    if requested in registered:
        return True
    portless = _loopback_without_port(requested)
    return portless is not None and any(_loopback_without_port(r) == portless for r in registered)


class Clients(Protocol):
    async def get_client(self, client_id: str) -> Client: ...


class Pushed(Protocol):
    async def resolve(self, request_uri: str, client_id: str) -> list[tuple[str, str]] | None: ...


def single_parameters(pairs: Sequence[tuple[str, str]]) -> tuple[dict[str, str], tuple[str, ...], set[str]]:
    """(parameters given once, `resource` values, names given more than once). Empty
    values count as absent (RFC 6749 §3.1)."""
    params: dict[str, str] = {}
    resources: list[str] = []
    repeated: set[str] = set()
    for name, value in pairs[:MAX_PARAMETERS]:
        if not value:
            continue
        if name in REPEATABLE:
            resources.append(value)
        elif name in params:
            repeated.add(name)
        else:
            params[name] = value
    for name in repeated:
        params.pop(name, None)
    return params, tuple(resources), repeated


async def check_request(clients: Clients, pairs: Sequence[tuple[str, str]],
                        pushed: Pushed | None = None, *,
                        pushed_already: bool = False) -> AuthorizationRequest:
    """The checked request; raises Untrusted or RedirectedError. A request by reference to
    a pushed one (`request_uri`, RFC 9126 §4) is the pushed request, checked again;
    `pushed_already` says the request is being pushed, or was."""
    params, resources, repeated = single_parameters(pairs)
    if len(pairs) > MAX_PARAMETERS or any(len(v) > MAX_PARAMETER_LENGTH for _, v in pairs):
        raise Untrusted("The request is too large.")
    if "request_uri" in params or "request_uri" in repeated:
        request_uri, client_id = params.get("request_uri"), params.get("client_id")
        if pushed is None or pushed_already or request_uri is None:
            raise Untrusted("request_uri is not accepted here.")
        if not client_id:
            raise Untrusted("The request names no client (client_id is missing).")
        found = await pushed.resolve(request_uri, client_id)
        if found is None:
            raise Untrusted("The pushed authorization request is unknown, was used, or has "
                            "expired. Start again from the application.")
        checked = await check_request(clients, found, pushed_already=True)
        return dataclasses.replace(checked, request_uri=request_uri)
    if "client_id" in repeated or "redirect_uri" in repeated:
        raise Untrusted("client_id and redirect_uri may be given only once.")
    client_id = params.get("client_id")
    if not client_id:
        raise Untrusted("The request names no client (client_id is missing).")
    try:
        client = await clients.get_client(client_id)
    except NotFound:
        raise Untrusted("The application that sent you here is not registered.") from None
    given = params.get("redirect_uri")
    if given is None:
        if len(client.redirect_uris) != 1:  # §3.1.2.3
            raise Untrusted("The request has no redirect_uri, and the application has several.")
        redirect_uri = client.redirect_uris[0]
    elif redirect_uri_matches(given, client.redirect_uris):
        redirect_uri = given
    else:
        raise Untrusted("The redirect URI is not one the application registered.")

    state = params.get("state")
    if "state" in repeated or (state is not None and len(state) > MAX_STATE_LENGTH):
        state = None  # not echoed: it is not one value the client sent

    def fail(error: str, description: str) -> RedirectedError:
        return RedirectedError(error, description, redirect_uri=redirect_uri, state=state)

    if repeated:
        raise fail("invalid_request", f"{min(repeated)} is given more than once")
    if client.require_pushed_authorization_requests and not pushed_already:
        raise fail("invalid_request", "this client must push its authorization requests to the "
                                      "pushed authorization request endpoint (RFC 9126)")
    if "state" in params and state is None:
        raise fail("invalid_request", f"state is longer than {MAX_STATE_LENGTH} characters")
    response_type = params.get("response_type")
    if response_type is None:
        raise fail("invalid_request", "response_type is missing")
    if response_type != "code":
        raise fail("unsupported_response_type", "only response_type=code is supported")
    if GRANT_AUTHORIZATION_CODE not in client.grant_types:
        raise fail("unauthorized_client", "this client may not use the authorization code grant")
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if method is not None and method != S256:
        raise fail("invalid_request", "code_challenge_method must be S256 (plain is not accepted)")
    if challenge is None:
        if method is not None:
            raise fail("invalid_request", "code_challenge is missing")
        # RFC 9700 §2.1.1: public clients MUST use PKCE, and confidential ones should: it
        # is required unless the client was registered with pkce_required: false.
        if client.is_public or client.pkce_required:
            raise fail("invalid_request", "PKCE is required: send code_challenge with "
                                          "code_challenge_method=S256")
    else:
        if method is None:  # RFC 7636 §4.3: the default would be plain
            raise fail("invalid_request", "code_challenge_method must be S256 (plain is not accepted)")
        if not is_code_challenge(challenge):
            raise fail("invalid_request", "code_challenge must be the 43-character BASE64URL "
                                          "SHA-256 of the code_verifier")
    try:
        scope = granted_scopes(params.get("scope"), allowed=client.scopes)
    except InvalidScope as exc:
        raise fail("invalid_scope", exc.description) from None
    try:
        audience = audience_for(client, resources)
    except InvalidTarget as exc:
        raise fail("invalid_target", exc.description) from None
    nonce = params.get("nonce")
    if nonce is not None and len(nonce) > MAX_NONCE_LENGTH:
        raise fail("invalid_request", f"nonce is longer than {MAX_NONCE_LENGTH} characters")
    prompt = frozenset(params.get("prompt", "").split())
    if PROMPT_NONE in prompt and len(prompt) > 1:  # OpenID Connect Core 1.0 §3.1.2.1
        raise fail("invalid_request", "prompt=none cannot be combined with other values")
    max_age = params.get("max_age")
    if max_age is not None and not (max_age.isascii() and max_age.isdigit()):
        raise fail("invalid_request", "max_age must be a number of seconds")
    return AuthorizationRequest(client=client, redirect_uri=redirect_uri,
                                redirect_uri_given=given is not None, state=state, scope=scope,
                                audience=audience, code_challenge=challenge, nonce=nonce,
                                # A value we do not know (select_account) is ignored (§3.1.2.1 MAY).
                                prompt=prompt & frozenset(PROMPT_VALUES),
                                max_age=None if max_age is None else min(int(max_age), MAX_AGE_LIMIT))
