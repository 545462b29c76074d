"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the end-session endpoint.

A client sends the browser here (`GET`, or a form `POST`) with `id_token_hint` (an ID token
we issued: its signature must verify, but it may have expired, §2), `client_id`,
`post_logout_redirect_uri` and `state`. The redirect URI must be one the client registered,
exactly (§3.1; the client is the one `client_id` names, or else the hint's audience), or
the browser is not sent anywhere: it sees a page. Anything wrong in the request is said on
a page too, never by redirecting to an unchecked URI.

Ending a session needs proof that the person means it (a link on any site could otherwise
log them out): an `id_token_hint` of this very browser session (its `sid`) and user, which
only the client it was issued to holds; or else a confirmation form, with this session's
CSRF token. The session ends server-side (its row deleted) and the cookie is cleared.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from keyplane.errors import InvalidToken, NotFound
from keyplane.http.context import client_ip, services_of
from keyplane.oauth.authorization import MAX_PARAMETER_LENGTH, MAX_STATE_LENGTH
from keyplane.oauth.id_tokens import IdTokenHint
from keyplane.oauth.metadata import END_SESSION_PATH
from keyplane.oauth.model import Authentication, Client
from keyplane.users.model import User
from keyplane.users.service import audited_logout
from keyplane.web.csrf import FIELD, csrf_context, csrf_failure, csrf_ok
from keyplane.web.forms import BadForm, read_form
from keyplane.web.render import error_page, page
from keyplane.web.session import (
    browser_value,
    clear_session_cookie,
    current_authentication,
    current_user,
)

MAX_HINT_LENGTH = 8192
MAX_QUERY_LENGTH = 16384
MAX_PARAMETERS = 20
# What the confirmation form carries back (the request, as the client sent it).
_KEPT = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"}


class BadLogout(Exception):
    """The logout request cannot be followed: say why on a page, redirect nowhere."""


class _CsrfFailed(Exception):
    """The confirmation form does not carry this session's CSRF token."""


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    client: Client | None
    redirect_uri: str | None  # registered by `client`, exactly
    state: str | None
    hint: IdTokenHint | None
    params: dict[str, str]  # the request's own parameters, for the confirmation form


def _single(pairs: list[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise BadLogout(f"The sign-out request gives {name} more than once.")
        if value:
            params[name] = value
    return params


async def _checked(request: Request, params: dict[str, str]) -> LogoutRequest:
    services = services_of(request)
    hint_value = params.get("id_token_hint")
    hint: IdTokenHint | None = None
    if hint_value is not None:
        if len(hint_value) > MAX_HINT_LENGTH:
            raise BadLogout("The sign-out request's id_token_hint is not valid.")
        try:
            hint = await services.id_tokens.hinted(hint_value)
        except InvalidToken:
            raise BadLogout("The sign-out request's id_token_hint is not an ID token this "
                            "server issued.") from None
    if any(len(params.get(name, "")) > MAX_PARAMETER_LENGTH for name in _KEPT if name != "id_token_hint"):
        raise BadLogout("The sign-out request is too large.")
    client_id = params.get("client_id")
    if client_id is not None and hint is not None and client_id not in hint.audience:
        raise BadLogout("The id_token_hint was not issued to the client the request names.")
    if client_id is None and hint is not None:
        client_id = hint.audience[0]
    client: Client | None = None
    if client_id is not None:
        try:
            client = await services.clients.get_client(client_id)
        except NotFound:
            raise BadLogout("The application that sent you here is not registered.") from None
    redirect_uri = params.get("post_logout_redirect_uri")
    if redirect_uri is not None:
        if client is None:
            raise BadLogout("The sign-out request names a post_logout_redirect_uri but no "
                            "client (client_id or id_token_hint).")
        if redirect_uri not in client.post_logout_redirect_uris:  # §3.1: an exact match
            raise BadLogout("The post_logout_redirect_uri is not one the application registered.")
    state = params.get("state")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        raise BadLogout(f"The sign-out request's state is longer than {MAX_STATE_LENGTH} characters.")
    return LogoutRequest(client=client, redirect_uri=redirect_uri, state=state, hint=hint,
                         params={name: params[name] for name in _KEPT if name in params})


def _of_this_session(hint: IdTokenHint | None, user: User, authentication: Authentication) -> bool:
    return hint is not None and hint.subject == user.id and hint.sid == authentication.sid


def _signed_out(request: Request, logout: LogoutRequest, *, status: int) -> Response:
    response: Response
    if logout.redirect_uri is not None:
        parts = urlsplit(logout.redirect_uri)
        query = parts.query
        if logout.state is not None:  # §3: state is passed back as given
            query = (query + "&" if query else "") + urlencode({"state": logout.state})
        response = RedirectResponse(urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")),
                                    status_code=status, headers=_NO_STORE)
    else:
        response = page("message.html", title="Signed out",
                        message="You are signed out. You may close this window.", is_error=False)
    clear_session_cookie(request, response)
    return response


async def _params(request: Request) -> tuple[dict[str, str], bool]:
    """The request's parameters, and whether they came from our confirmation form (its
    CSRF token checked). Raises BadLogout, or BadForm for a body that is not a form."""
    if request.method == "POST":
        form = await read_form(request)
        if FIELD in form:
            if not csrf_ok(request, form):
                raise _CsrfFailed
            return {k: v for k, v in form.items() if k in _KEPT and v}, True
        return {k: v for k, v in form.items() if v}, False
    query = request.url.query
    if len(query) > MAX_QUERY_LENGTH:
        raise BadLogout("The sign-out request is too large.")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_PARAMETERS,
                          errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadLogout("The sign-out request cannot be read.") from None
    return _single(pairs), False


async def end_session(request: Request) -> Response:
    try:
        params, confirmed = await _params(request)
        logout = await _checked(request, params)
    except BadForm as exc:
        return error_page("Cannot sign out", str(exc), status=400)
    except _CsrfFailed:
        return csrf_failure()
    except BadLogout as exc:
        return error_page("Cannot sign out", str(exc), status=400)
    services = services_of(request)
    user = await current_user(request)
    authentication = await current_authentication(request)
    if user is not None and authentication is not None:
        if not confirmed and not _of_this_session(logout.hint, user, authentication):
            csrf = csrf_context(request)
            return csrf.apply(page("end_session.html", title="Sign out?", user=user,
                                   client=logout.client, csrf_token=csrf.token,
                                   fields=sorted(logout.params.items()), action=END_SESSION_PATH))
        value = browser_value(request)
        if value:
            await services.sessions.end(value)
        services.audit_writer.add(audited_logout(user.id, client_ip(request), services.clock.now()))
    return _signed_out(request, logout, status=303 if request.method == "POST" else 302)


def routes() -> list[BaseRoute]:
    return [Route(END_SESSION_PATH, end_session, methods=["GET", "POST"])]
