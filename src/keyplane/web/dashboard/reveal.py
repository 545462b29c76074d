"""A key or secret just made, shown once on the page the form redirects to.

The form post answers 303 (so a reload repeats nothing) with the secret sealed for this
browser session (`SessionService.seal`: AES-GCM, bound to the session and to the object's
id, two minutes) in a cookie scoped to that object's page; the page shows it and deletes
the cookie, so a reload shows it no more. Nothing keeps the secret on the server, and
every worker process can open it.
"""

from __future__ import annotations

from starlette.responses import Response

from keyplane.web.dashboard.access import Admin, redirect
from keyplane.web.session import browser_value, is_secure_issuer

COOKIE = "kp_reveal"
TTL_SECONDS = 120


def redirect_revealing(admin: Admin, path: str, object_id: str, secret: str) -> Response:
    """303 to `path`, which will show `secret` once (see `take`)."""
    session = browser_value(admin.request) or ""
    response = redirect(path)
    sealed = admin.services.sessions.seal(session, object_id, secret, ttl_seconds=TTL_SECONDS)
    response.set_cookie(COOKIE, sealed, max_age=TTL_SECONDS, path=path, httponly=True,
                        samesite="strict", secure=_secure(admin))
    return response


def take(admin: Admin, object_id: str) -> str | None:
    """The secret sealed for this object and session, if the browser brought one."""
    sealed = admin.request.cookies.get(COOKIE)
    session = browser_value(admin.request)
    if not sealed or not session:
        return None
    return admin.services.sessions.unseal(session, object_id, sealed)


def forget(admin: Admin, response: Response) -> Response:
    """Delete the cookie (on the page that showed the secret, whether or not it could)."""
    if COOKIE in admin.request.cookies:
        response.delete_cookie(COOKIE, path=admin.request.url.path, httponly=True,
                               samesite="strict", secure=_secure(admin))
    return response


def _secure(admin: Admin) -> bool:
    return is_secure_issuer(admin.services.settings.resolved_issuer)
