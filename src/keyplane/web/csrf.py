"""CSRF protection for every form: a synchronizer token bound to the browser session.

The token is HMAC-SHA-256 of the session cookie's value under a server key
(`SessionService.csrf_token`): only this server can make it, it is valid for that session
only (a new one after login), and it need not be stored. Every form carries it in a hidden
field; every POST is refused unless the field matches, compared in constant time. The
cookie itself is `SameSite=Lax`, a second line of defence, not the only one.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyplane.http.context import services_of
from keyplane.web.render import PAGE_POLICY, error_page
from keyplane.web.session import browser_value, browser_value_or_new, set_session_cookie

FIELD = "csrf_token"


class CsrfContext:
    """The token for the forms of one page, and whether the page must set the cookie."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self.value, self.is_new = browser_value_or_new(request)
        self.token = services_of(request).sessions.csrf_token(self.value)

    def apply(self, response: Response) -> Response:
        """Set the anonymous session cookie the token is bound to, if it was new."""
        if self.is_new:
            set_session_cookie(self._request, response, self.value)
        return response


def csrf_context(request: Request) -> CsrfContext:
    """For a page with forms: `.token` in each form (templates/forms.html `csrf`), then
    `.apply(response)` on the page."""
    return CsrfContext(request)


def csrf_ok(request: Request, form: dict[str, str]) -> bool:
    """Whether the posted form carries this browser session's CSRF token."""
    value = browser_value(request)
    return value is not None and services_of(request).sessions.check_csrf(value, form.get(FIELD, ""))


def csrf_failure(policy: str = PAGE_POLICY) -> Response:
    return error_page("Form expired", "This form is out of date or was not sent by this site. "
                      "Go back, reload the page and try again.", status=403, policy=policy)
