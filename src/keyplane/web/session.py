"""Who is logged in, from the browser session cookie; and the way to log in and come back.

The cookie always holds a random value once a page has been shown: before login it names
no stored session (it only binds the CSRF token of the login form); a successful login
replaces it with a new value that names a stored session (so a value planted before login
is worth nothing after it). It is `HttpOnly`, `SameSite=Lax`, and `Secure` with the
`__Host-` prefix unless the issuer is plain http on localhost/127.0.0.1/[::1].

For other pages (the device flow's user-code page):

    user = await current_user(request)
    if user is None:
        return redirect_to_login(request)        # /login?next=<this path and query>
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from keyplane.http.context import services_of
from keyplane.users.model import User
from keyplane.oauth.model import Authentication
from keyplane.users.sessions import MAX_COOKIE_LENGTH, new_session_value, session_sid

LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
MAX_NEXT_LENGTH = 4000
REAUTHENTICATE = "again"  # the login page's query parameter: show the form even when logged in
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def is_secure_issuer(issuer: str) -> bool:
    """Whether cookies must be `Secure`: always, but for plain http on a loopback host."""
    parts = urlsplit(issuer)
    return not (parts.scheme == "http" and (parts.hostname or "") in _LOCAL_HOSTS)


def cookie_name(request: Request) -> str:
    secure = is_secure_issuer(services_of(request).settings.resolved_issuer)
    return "__Host-kp_session" if secure else "kp_session"


def browser_value(request: Request) -> str | None:
    """The session cookie's value as the browser sent it (None when absent or absurd)."""
    value = request.cookies.get(cookie_name(request))
    return value if value and len(value) <= MAX_COOKIE_LENGTH else None


def browser_value_or_new(request: Request) -> tuple[str, bool]:
    """The cookie's value, or a fresh anonymous one (and True: set it on the response)."""
    value = browser_value(request)
    return (value, False) if value else (new_session_value(), True)


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    secure = is_secure_issuer(services_of(request).settings.resolved_issuer)
    # No Max-Age: the browser forgets it when closed; the server enforces the idle and
    # absolute lifetimes whatever the browser keeps.
    response.set_cookie(cookie_name(request), value, path="/", secure=secure, httponly=True,
                        samesite="lax")


def clear_session_cookie(request: Request, response: Response) -> None:
    secure = is_secure_issuer(services_of(request).settings.resolved_issuer)
    response.delete_cookie(cookie_name(request), path="/", secure=secure, httponly=True,
                           samesite="lax")


async def current_user(request: Request) -> User | None:
    """The logged-in user of this browser: a live session whose user exists and is not
    disabled; None otherwise. Looked up once a request."""
    if "keyplane_user" in request.scope:
        cached: User | None = request.scope["keyplane_user"]
        return cached
    user: User | None = None
    authentication: Authentication | None = None
    value = browser_value(request)
    if value:
        services = services_of(request)
        session = await services.sessions.resume(value)
        if session is not None:
            user = await services.users.active_user(session.user_id)
            # A session starts at a successful login: its creation is the authentication.
            authentication = Authentication(auth_time=session.created_at, sid=session_sid(value))
    request.scope["keyplane_user"] = user
    request.scope["keyplane_authentication"] = authentication if user is not None else None
    return user


async def current_authentication(request: Request) -> Authentication | None:
    """When and in which session the logged-in user of this browser logged in (None
    without one): OpenID Connect's `auth_time` and `sid`."""
    await current_user(request)
    found: Authentication | None = request.scope.get("keyplane_authentication")
    return found


def safe_next(value: str | None) -> str | None:
    """`value` when it is a path on this server (`/…`, not `//host` nor `/\\host`, no
    scheme, no control characters); None otherwise. Never an open redirect."""
    if not value or len(value) > MAX_NEXT_LENGTH or not value.startswith("/"):
        return None
    if value.startswith(("//", "/\\")) or "\\" in value:
        return None
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def local_path(request: Request) -> str:
    """This request's path and query, as a `next` to come back to."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def login_url(next_path: str | None, *, again: bool = False) -> str:
    """The login page, coming back to `next_path`; with `again` it asks for the password
    even of a browser that is logged in (OpenID Connect prompt=login, max_age)."""
    checked = safe_next(next_path)
    again_query = f"{REAUTHENTICATE}=1" if again else ""
    if checked is None:
        return LOGIN_PATH + (f"?{again_query}" if again else "")
    return f"{LOGIN_PATH}?next={quote(checked, safe='')}" + (f"&{again_query}" if again else "")


def redirect_to_login(request: Request, next_path: str | None = None, *,
                      again: bool = False) -> Response:
    """303 to the login page, which comes back to `next_path` (default: this request)."""
    return RedirectResponse(login_url(next_path or local_path(request), again=again),
                            status_code=303, headers={"Cache-Control": "no-store"})
