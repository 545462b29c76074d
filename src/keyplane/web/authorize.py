"""The authorization endpoint (RFC 6749 §4.1.1–4.1.2): check, log in, consent, redirect.

GET checks the request (oauth/authorization.py), sends a browser without a session to log
in and come back, and then either redirects at once with a code (the user approved these
scopes for this client before) or shows the consent page. The consent form posts back the
original request, which is checked again in full, with the session's CSRF token.
Responses carry `code` (or `error`), `state` and `iss` (RFC 9207).

OpenID Connect Core 1.0 §3.1.2.1: `prompt=none` never shows a page (no session:
`login_required`; consent missing: `consent_required`); `prompt=login`, and a session
older than `max_age`, send the browser to log in again; `prompt=consent` shows the consent
page even when the user approved before. A browser sent to log in again comes back with
`kp_login` added to the request: a stamp (HMAC under a server key) of when it was sent, so
a login after that time satisfies the request and the next one asks no more.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from keyplane.http.context import client_ip, services_of
from keyplane.oauth.authorization import (
    MAX_PARAMETERS,
    AuthorizationRequest,
    RedirectedError,
    Untrusted,
    check_request,
)
from keyplane.oauth.model import Authentication
from keyplane.oauth.metadata import AUTHORIZATION_PATH
from keyplane.oauth.par import FLOW_SECONDS
from keyplane.oauth.user_claims import PROMPT_CONSENT, PROMPT_LOGIN, PROMPT_NONE
from keyplane.users.model import User
from keyplane.web.consent import scope_items
from keyplane.web.csrf import csrf_context, csrf_failure, csrf_ok
from keyplane.web.forms import BadForm, read_form
from keyplane.web.render import error_page, page
from keyplane.web.session import current_authentication, current_user, redirect_to_login

MAX_QUERY_LENGTH = 8192
LOGIN_STAMP = "kp_login"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer"}


def _redirect(request: Request, redirect_uri: str, params: dict[str, str | None], *,
              status: int) -> Response:
    """To the client: its redirect URI with `params`, `state` and `iss` added to any query
    it already has (§3.1.2: the query component is kept)."""
    issuer = services_of(request).settings.resolved_issuer
    values = {k: v for k, v in params.items() if v is not None}
    values["iss"] = issuer
    parts = urlsplit(redirect_uri)
    query = (parts.query + "&" if parts.query else "") + urlencode(values)
    return RedirectResponse(urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")),
                            status_code=status, headers=_NO_STORE)


def _error_redirect(request: Request, exc: RedirectedError, *, status: int) -> Response:
    return _redirect(request, exc.redirect_uri, {"error": exc.error,
                                                 "error_description": exc.description,
                                                 "state": exc.state}, status=status)


def _untrusted(exc: Untrusted) -> Response:
    return error_page("Cannot continue", f"{exc.message} You have not been sent back to the "
                      "application, as it could not be trusted with the answer.", status=400)


async def _checked(request: Request, query: str) -> AuthorizationRequest:
    if len(query) > MAX_QUERY_LENGTH:
        raise Untrusted("The request is too large.")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_PARAMETERS + 1,
                          errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise Untrusted("The request cannot be read.") from None
    services = services_of(request)
    return await check_request(services.clients, pairs, services.pushed_requests)


async def _grantable(request: Request, checked: AuthorizationRequest,
                     user: User) -> tuple[str, ...]:
    """The requested scopes this user may grant (scopes restricted to roles they lack are
    left out, RFC 6749 §3.3); RedirectedError when nothing requested is left."""
    refused = await services_of(request).users.refused_scopes(user, checked.scope)
    scope = tuple(s for s in checked.scope if s not in refused)
    if checked.scope and not scope:
        raise RedirectedError("access_denied", "the user may not grant any of the requested scopes",
                              redirect_uri=checked.redirect_uri, state=checked.state)
    return scope


def _without_stamp(query: str) -> tuple[str, str | None]:
    """The request as the client sent it, and the login stamp this server added, if any."""
    base, sep, stamp = query.rpartition(f"&{LOGIN_STAMP}=")
    if not sep or "&" in stamp:
        return query, None
    return base, stamp


def _logged_in_enough(request: Request, checked: AuthorizationRequest, query: str,
                      authentication: Authentication) -> bool:
    """Whether the session's login will do for this request: no `prompt=login`, and not
    older than `max_age`; or a login after this server sent the browser to log in again."""
    base, stamp = _without_stamp(query)
    if stamp is not None:
        sent_at = services_of(request).sessions.stamped_at(base, stamp, max_age_seconds=FLOW_SECONDS)
        if sent_at is not None and authentication.auth_time >= sent_at:
            return True
    if PROMPT_LOGIN in checked.prompt:
        return False
    if checked.max_age is not None:
        elapsed = services_of(request).clock.now() - authentication.auth_time
        return elapsed.total_seconds() <= checked.max_age
    return True


def _log_in_again(request: Request, query: str) -> Response:
    base, _ = _without_stamp(query)
    stamp = services_of(request).sessions.login_stamp(base, services_of(request).clock.now())
    return redirect_to_login(request, f"{AUTHORIZATION_PATH}?{base}&{LOGIN_STAMP}={stamp}", again=True)


async def _issue(request: Request, checked: AuthorizationRequest, user: User,
                 scope: tuple[str, ...], *, status: int) -> Response:
    if checked.request_uri is not None \
            and not await services_of(request).pushed_requests.consume(checked.request_uri):
        return _error_redirect(request, RedirectedError(
            "invalid_request", "the pushed authorization request was used already",
            redirect_uri=checked.redirect_uri, state=checked.state), status=status)
    code = await services_of(request).codes.issue(checked, user.id, scope, ip=client_ip(request),
                                                  authentication=await current_authentication(request))
    return _redirect(request, checked.redirect_uri, {"code": code, "state": checked.state},
                     status=status)


async def authorize(request: Request) -> Response:
    query = request.url.query
    try:
        checked = await _checked(request, query)
        user = await current_user(request)
        authentication = await current_authentication(request)
        if user is None or authentication is None:
            if PROMPT_NONE in checked.prompt:
                raise RedirectedError("login_required", "the user is not logged in",
                                      redirect_uri=checked.redirect_uri, state=checked.state)
            return redirect_to_login(request)
        if not _logged_in_enough(request, checked, query, authentication):
            if PROMPT_NONE in checked.prompt:
                raise RedirectedError("login_required", "the user's login is older than max_age",
                                      redirect_uri=checked.redirect_uri, state=checked.state)
            return _log_in_again(request, query)
        scope = await _grantable(request, checked, user)
        consent = await services_of(request).users.consent(user.id, checked.client.id)
        consented = consent is not None and set(scope) <= set(consent.scopes)
        if PROMPT_NONE in checked.prompt and not consented:
            raise RedirectedError("consent_required", "the user has not approved this request",
                                  redirect_uri=checked.redirect_uri, state=checked.state)
    except Untrusted as exc:
        return _untrusted(exc)
    except RedirectedError as exc:
        return _error_redirect(request, exc, status=302)
    if consented and PROMPT_CONSENT not in checked.prompt:
        return await _issue(request, checked, user, scope, status=302)
    csrf = csrf_context(request)
    return csrf.apply(page("consent.html", title=f"Allow {checked.client.name}?",
                           client=checked.client, user=user, scopes=scope_items(scope),
                           csrf_token=csrf.token, request_query=query,
                           action=AUTHORIZATION_PATH))


async def decide(request: Request) -> Response:
    try:
        form = await read_form(request)
    except BadForm as exc:
        return error_page("Cannot continue", str(exc), status=400)
    if not csrf_ok(request, form):
        return csrf_failure()
    query = form.get("request", "")
    try:
        checked = await _checked(request, query)
        user = await current_user(request)
        if user is None:
            return redirect_to_login(request, f"{AUTHORIZATION_PATH}?{query}")
        scope = await _grantable(request, checked, user)
        decision = form.get("decision")
        if decision == "deny":
            raise RedirectedError("access_denied", "the user denied the request",
                                  redirect_uri=checked.redirect_uri, state=checked.state)
        if decision != "approve":
            return error_page("Cannot continue", "Choose Allow or Deny.", status=400)
    except Untrusted as exc:
        return _untrusted(exc)
    except RedirectedError as exc:
        return _error_redirect(request, exc, status=303)
    await services_of(request).users.grant_consent(user, checked.client.id, scope, ip=client_ip(request))
    return await _issue(request, checked, user, scope, status=303)


def routes() -> list[BaseRoute]:
    return [
        Route(AUTHORIZATION_PATH, authorize, methods=["GET"]),
        Route(AUTHORIZATION_PATH, decide, methods=["POST"]),
    ]
