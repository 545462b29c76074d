"""HTML for people: Jinja2 templates in one layout, and the headers every page carries.

Templates live in `web/templates/` and are autoescaped (every value is text unless a
template says otherwise; none does). One stylesheet, `web/static/keyplane.css`, is served
by keyplane itself, so a strict Content-Security-Policy holds: no inline script or style,
nothing from another origin, no framing, no base, no plugins.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from starlette.responses import HTMLResponse

# The login, consent and device pages: a stylesheet and nothing else. No form-action:
# Chromium applies it to the redirects that follow a form post, and the consent form's
# answer is a redirect to the client's own redirect URI (any origin, or a private-use
# scheme).
PAGE_POLICY = ("default-src 'none'; style-src 'self'; base-uri 'none'; "
               "frame-ancestors 'none'")
# The dashboard: its own stylesheet and script (the copy button), no inline code, its
# forms post to itself only.
DASHBOARD_POLICY = ("default-src 'self'; object-src 'none'; base-uri 'none'; "
                    "form-action 'self'; frame-ancestors 'none'")

STATIC_PATH = "/static"  # web/static/, served by keyplane itself

PAGE_HEADERS = {
    "X-Frame-Options": "DENY",  # for browsers without frame-ancestors
    "Referrer-Policy": "no-referrer",  # URLs here carry state and codes
    "Cache-Control": "no-store",  # pages may show a key or secret once
    "Pragma": "no-cache",
}


@cache
def environment() -> jinja2.Environment:
    """The one template environment (built on first use, then shared)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("keyplane.web", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, enable_async=False)


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def page(template: str, *, status: int = 200, policy: str = PAGE_POLICY,
         headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    """The page `template` renders with `context`, with the security headers."""
    return HTMLResponse(render(template, **context), status_code=status, headers={
        "Content-Security-Policy": policy, **PAGE_HEADERS, **(headers or {})})


def error_page(title: str, message: str, *, status: int,
               policy: str = PAGE_POLICY) -> HTMLResponse:
    """A page that says what went wrong, and goes nowhere."""
    return page("message.html", status=status, policy=policy, title=title, message=message,
                is_error=True)
