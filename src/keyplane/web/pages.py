"""The login and logout pages."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from keyplane.http.context import services_of
from keyplane.users.service import LoginFailed, LoginThrottled, audited_logout
from keyplane.web.csrf import csrf_context, csrf_failure, csrf_ok
from keyplane.web.forms import BadForm, read_form
from keyplane.web.render import Html, error_page, esc, page
from keyplane.web.session import (
    LOGIN_PATH,
    LOGOUT_PATH,
    browser_value,
    clear_session_cookie,
    current_user,
    safe_next,
    set_session_cookie,
)

DEFAULT_NEXT = "/login/done"


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _login_page(request: Request, next_path: str | None, *, username: str = "",
                error: str | None = None, status: int = 200) -> Response:
    csrf = csrf_context(request)
    alert = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    next_field = (f'<input type="hidden" name="next" value="{esc(next_path)}">'
                  if next_path else "")
    body = Html(
        f"<h1>Log in</h1>{alert}"
        f'<form method="post" action="{LOGIN_PATH}">{csrf.field()}{next_field}'
        '<label for="username">Username</label>'
        f'<input type="text" id="username" name="username" value="{esc(username)}" '
        'autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>'
        '<label for="password">Password</label>'
        '<input type="password" id="password" name="password" autocomplete="current-password" required>'
        '<div class="actions"><button type="submit">Log in</button></div></form>')
    return csrf.apply(page("Log in", body, status=status))


async def login_form(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    if await current_user(request) is not None:
        return RedirectResponse(next_path or DEFAULT_NEXT, status_code=303,
                                headers={"Cache-Control": "no-store"})
    return _login_page(request, next_path)


async def login(request: Request) -> Response:
    try:
        form = await read_form(request)
    except BadForm as exc:
        return error_page("Cannot log in", str(exc), status=400)
    if not csrf_ok(request, form):
        return csrf_failure()
    next_path = safe_next(form.get("next"))
    username = form.get("username", "")
    services = services_of(request)
    try:
        user = await services.users.login(username, form.get("password", ""), ip=_ip(request))
    except LoginThrottled:
        return _login_page(request, next_path, username=username, status=429,
                           error="Too many attempts. Wait a few minutes, then try again.")
    except LoginFailed:
        return _login_page(request, next_path, username=username, status=401,
                           error="Wrong username or password.")
    old = browser_value(request)
    if old:
        await services.sessions.end(old)
    value, _ = await services.sessions.start(user.id, ip=_ip(request))
    response = RedirectResponse(next_path or DEFAULT_NEXT, status_code=303,
                                headers={"Cache-Control": "no-store"})
    set_session_cookie(request, response, value)
    return response


async def logged_in(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return RedirectResponse(f"{LOGIN_PATH}?next={quote(DEFAULT_NEXT, safe='')}", status_code=303)
    csrf = csrf_context(request)
    body = Html(f"<h1>Logged in</h1><p>You are logged in as <strong>{esc(user.username)}</strong>.</p>"
                f'<form method="post" action="{LOGOUT_PATH}">{csrf.field()}'
                '<div class="actions"><button type="submit" class="secondary">Log out</button></div></form>')
    return csrf.apply(page("Logged in", body))


async def logout_form(request: Request) -> Response:
    user = await current_user(request)
    csrf = csrf_context(request)
    who = f" as <strong>{esc(user.username)}</strong>" if user else ""
    body = Html(f"<h1>Log out</h1><p>You are logged in{who}.</p>" if user else
                "<h1>Log out</h1><p>You are not logged in.</p>")
    if user:
        body = Html(body + f'<form method="post" action="{LOGOUT_PATH}">{csrf.field()}'
                    '<div class="actions"><button type="submit">Log out</button></div></form>')
    return csrf.apply(page("Log out", body))


async def logout(request: Request) -> Response:
    try:
        form = await read_form(request)
    except BadForm as exc:
        return error_page("Cannot log out", str(exc), status=400)
    if not csrf_ok(request, form):
        return csrf_failure()
    services = services_of(request)
    user = await current_user(request)
    value = browser_value(request)
    if value:
        await services.sessions.end(value)
    if user is not None:
        services.audit_writer.add(audited_logout(user.id, _ip(request), services.clock.now()))
    response = page("Logged out", Html("<h1>Logged out</h1><p>You are logged out.</p>"))
    clear_session_cookie(request, response)
    return response


def routes() -> list[BaseRoute]:
    return [
        Route(LOGIN_PATH, login_form, methods=["GET"]),
        Route(LOGIN_PATH, login, methods=["POST"]),
        Route(DEFAULT_NEXT, logged_in, methods=["GET"]),
        Route(LOGOUT_PATH, logout_form, methods=["GET"]),
        Route(LOGOUT_PATH, logout, methods=["POST"]),
    ]
