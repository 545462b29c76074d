"""The login and logout pages."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from keyplane.http.context import client_ip, services_of
from keyplane.users.model import User
from keyplane.users.service import LoginFailed, LoginThrottled, audited_logout
from keyplane.web.csrf import csrf_context, csrf_failure, csrf_ok
from keyplane.web.forms import BadForm, read_form
from keyplane.web.render import error_page, page
from keyplane.web.session import (
    LOGIN_PATH,
    LOGOUT_PATH,
    REAUTHENTICATE,
    browser_value,
    clear_session_cookie,
    current_user,
    safe_next,
    set_session_cookie,
)

DEFAULT_NEXT = "/login/done"


def _login_page(request: Request, next_path: str | None, *, username: str = "",
                error: str | None = None, status: int = 200) -> Response:
    csrf = csrf_context(request)
    return csrf.apply(page("login.html", status=status, title="Log in", error=error,
                           csrf_token=csrf.token, next_path=next_path, username=username,
                           action=LOGIN_PATH))


async def login_form(request: Request) -> Response:
    next_path = safe_next(request.query_params.get("next"))
    again = request.query_params.get(REAUTHENTICATE) == "1"
    if not again and await current_user(request) is not None:
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
        user = await services.users.login(username, form.get("password", ""), ip=client_ip(request))
    except LoginThrottled:
        return _login_page(request, next_path, username=username, status=429,
                           error="Too many attempts. Wait a few minutes, then try again.")
    except LoginFailed:
        return _login_page(request, next_path, username=username, status=401,
                           error="Wrong username or password.")
    old = browser_value(request)
    if old:
        await services.sessions.end(old)
    value, _ = await services.sessions.start(user.id, ip=client_ip(request))
    response = RedirectResponse(next_path or DEFAULT_NEXT, status_code=303,
                                headers={"Cache-Control": "no-store"})
    set_session_cookie(request, response, value)
    return response


def _logged_in_page(request: Request, user: User | None, title: str,
                    button_class: str) -> Response:
    csrf = csrf_context(request)
    return csrf.apply(page("logged_in.html", title=title, user=user, csrf_token=csrf.token,
                           logout_path=LOGOUT_PATH, button_class=button_class))


async def logged_in(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return RedirectResponse(f"{LOGIN_PATH}?next={quote(DEFAULT_NEXT, safe='')}", status_code=303)
    return _logged_in_page(request, user, "Logged in", "secondary")


async def logout_form(request: Request) -> Response:
    user = await current_user(request)
    return _logged_in_page(request, user, "Log out", "")


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
        services.audit_writer.add(audited_logout(user.id, client_ip(request), services.clock.now()))
    response = page("message.html", title="Logged out", message="You are logged out.",
                    is_error=False)
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
