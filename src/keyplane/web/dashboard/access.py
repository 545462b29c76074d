"""Who may see a dashboard page, and the checks every form post passes.

A page handler takes an `Admin` (the signed-in user holding the role `admin`, their
actor for the audit log, the CSRF token of their session); `view` and `action` wrap it:

- no session: to the login page and back (a form post goes back to the overview);
- a user without the role: 403, no dashboard content;
- a form post: a bounded urlencoded body (web/forms.py) with the session's CSRF token,
  or 403;
- NotFound and Conflict from the services become pages that say so.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyplane.audit.events import Actor
from keyplane.errors import Conflict, Invalid, NotFound
from keyplane.http.context import services_of
from keyplane.pagination import decode_cursor
from keyplane.services import Services
from keyplane.users.model import User
from keyplane.web.csrf import CsrfContext, csrf_context, csrf_failure, csrf_ok
from keyplane.web.dashboard.navigation import DASHBOARD_PATH, SECTIONS
from keyplane.web.forms import BadForm, read_form
from keyplane.web.render import DASHBOARD_POLICY, error_page, page
from keyplane.web.session import LOGOUT_PATH, current_user, redirect_to_login

Endpoint = Callable[[Request], Awaitable[Response]]
PAGE_SIZE = 25


@dataclass(frozen=True, slots=True)
class Admin:
    request: Request
    user: User
    services: Services
    csrf: CsrfContext

    @property
    def actor(self) -> Actor:
        """The user, as the audit log names who acted."""
        client = self.request.client
        return Actor(id=self.user.id, ip=client.host if client else None)

    def query(self, name: str, *, max_length: int = 200) -> str:
        """A query parameter, stripped; empty when absent or too long to be one we made."""
        value = self.request.query_params.get(name, "").strip()
        return value if len(value) <= max_length else ""

    def cursor(self) -> str | None:
        """Where a list page starts: its `?cursor=` (a next-page link's), decoded."""
        return decode_cursor(self.query("cursor") or None)

    def show(self, template: str, section: str, *, status: int = 200, **context: Any) -> Response:
        """The page `template` in the dashboard layout, `section` marked in the navigation."""
        response = page(f"dashboard/{template}", status=status, policy=DASHBOARD_POLICY,
                        sections=SECTIONS, section=section, user=self.user,
                        csrf_token=self.csrf.token, logout_path=LOGOUT_PATH, **context)
        return self.csrf.apply(response)


def redirect(path: str) -> Response:
    """303 to `path` on this server (after a form post: a reload repeats nothing)."""
    return RedirectResponse(path, status_code=303, headers={
        "Cache-Control": "no-store", "Content-Security-Policy": DASHBOARD_POLICY})


def field_errors(exc: Invalid) -> dict[str, str]:
    """An Invalid's messages by the form field they belong to (the first for each)."""
    found: dict[str, str] = {}
    for error in exc.errors:
        name = error.field.split("[")[0].split(".")[0] or "form"
        found.setdefault(name, error.message)
    return found


def _problem(title: str, message: str, status: int) -> Response:
    return error_page(title, message, status=status, policy=DASHBOARD_POLICY)


async def _admin(request: Request, next_path: str | None = None) -> Admin | Response:
    user = await current_user(request)
    if user is None:
        return redirect_to_login(request, next_path)
    if not user.is_admin:
        return _problem("Not allowed", "The dashboard is for users holding the role admin. "
                        "Ask an administrator to give it to you.", 403)
    return Admin(request=request, user=user, services=services_of(request),
                 csrf=csrf_context(request))


async def _guarded(call: Callable[[], Awaitable[Response]]) -> Response:
    try:
        return await call()
    except NotFound as exc:
        return _problem("Not found", str(exc), 404)
    except Conflict as exc:
        return _problem("Cannot do that", str(exc), 409)
    except Invalid as exc:
        return _problem("Cannot do that", str(exc), 400)


def view(handler: Callable[[Admin], Awaitable[Response]]) -> Endpoint:
    """A page shown on GET to admins."""
    async def endpoint(request: Request) -> Response:
        admin = await _admin(request)
        if isinstance(admin, Response):
            return admin
        return await _guarded(lambda: handler(admin))
    return endpoint


def action(handler: Callable[[Admin, dict[str, str]], Awaitable[Response]]) -> Endpoint:
    """A form post by an admin, with the session's CSRF token."""
    async def endpoint(request: Request) -> Response:
        admin = await _admin(request, DASHBOARD_PATH)
        if isinstance(admin, Response):
            return admin
        try:
            form = await read_form(request)
        except BadForm as exc:
            return _problem("Cannot read the form", str(exc), 400)
        if not csrf_ok(request, form):
            return csrf_failure(DASHBOARD_POLICY)
        return await _guarded(lambda: handler(admin, form))
    return endpoint
