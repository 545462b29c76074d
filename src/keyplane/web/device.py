"""The device flow's verification page (RFC 8628 §3.3): log in, enter the code the device
shows, see which client asks for what, approve or deny.

    GET  /device[?user_code=...]   the code form (prefilled from verification_uri_complete;
                                   the user still confirms it, §5.4), after login
    POST /device                   check the code (rate-limited per address and per user)
                                   and show the client and its scopes in plain words
    POST /device/decision          approve or deny

Every form carries the CSRF token of the browser session. The user may be refused scopes
that roles restrict (docs/users.md): those are listed as not granted, and approving grants the rest.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keyplane.errors import Invalid, NotFound, TooManyRequests
from keyplane.http.context import client_ip, services_of
from keyplane.ids import is_id
from keyplane.oauth.device import DeviceGrant, display_user_code, normalize_user_code
from keyplane.oauth.metadata import DEVICE_VERIFICATION_PATH
from keyplane.users.model import User
from keyplane.web.consent import scope_items
from keyplane.web.csrf import csrf_context, csrf_failure, csrf_ok
from keyplane.web.forms import BadForm, read_form
from keyplane.web.render import error_page, page
from keyplane.web.session import current_user, redirect_to_login

DECISION_PATH = DEVICE_VERIFICATION_PATH + "/decision"


def _code_page(request: Request, user: User, *, code: str = "", error: str | None = None,
               status: int = 200) -> Response:
    csrf = csrf_context(request)
    return csrf.apply(page("device_code.html", status=status, title="Connect a device",
                           error=error, csrf_token=csrf.token, code=code, user=user,
                           action=DEVICE_VERIFICATION_PATH))


async def code_form(request: Request) -> Response:
    user = await current_user(request)
    if user is None:
        return redirect_to_login(request)
    typed = request.query_params.get("user_code", "")
    code = normalize_user_code(typed)
    return _code_page(request, user, code=display_user_code(code) if code else "")


async def _posted(request: Request) -> tuple[User, dict[str, str]] | Response:
    """The signed-in user and the form they posted (CSRF checked), or the answer that ends
    the request: the login page, or an unreadable or forged form."""
    user = await current_user(request)
    if user is None:
        return redirect_to_login(request, DEVICE_VERIFICATION_PATH)
    try:
        form = await read_form(request)
    except BadForm as exc:
        return error_page("Cannot read the form", str(exc), status=400)
    if not csrf_ok(request, form):
        return csrf_failure()
    return user, form


async def check_code(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    user, form = posted
    typed = form.get("user_code", "")
    services = services_of(request)
    try:
        grant = await services.devices.find_pending(typed, user_id=user.id, ip=client_ip(request))
    except TooManyRequests:
        return _code_page(request, user, code=typed[:32], status=429,
                          error="Too many codes entered. Wait a minute, then try again.")
    except Invalid:
        return _code_page(request, user, code=typed[:32], status=400,
                          error="That code is not valid. Check it on your device: codes expire "
                                "after a few minutes.")
    return await _decision_page(request, user, grant)


async def _decision_page(request: Request, user: User, grant: DeviceGrant) -> Response:
    services = services_of(request)
    try:
        client = await services.clients.get_client(grant.client_id)
    except NotFound:
        return error_page("Request not found", "The application that asked was removed.", status=404)
    refused = set(await services.users.refused_scopes(user, grant.scope))
    granted = [s for s in grant.scope if s not in refused]
    csrf = csrf_context(request)
    return csrf.apply(page("device_decision.html", title=f"Allow {client.name}?", client=client,
                           user=user, granted=scope_items(granted),
                           refused=[s for s in grant.scope if s in refused],
                           csrf_token=csrf.token, grant_id=grant.id, action=DECISION_PATH))


async def decide(request: Request) -> Response:
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    user, form = posted
    grant_id, decision = form.get("request", ""), form.get("decision", "")
    if not is_id(grant_id, "dva") or decision not in ("approve", "deny"):
        return error_page("Cannot read the form", "Use the buttons of the previous page.", status=400)
    services = services_of(request)
    try:
        grant = await services.devices.pending(grant_id)
        refused = set(await services.users.refused_scopes(user, grant.scope))
        await services.devices.decide(grant.id, approve=decision == "approve", user_id=user.id,
                                      scope=tuple(s for s in grant.scope if s not in refused),
                                      ip=client_ip(request))
    except NotFound:
        return error_page("Request expired", "This request is no longer waiting: it expired or "
                          "was answered already. Start again on your device.", status=410)
    if decision == "approve":
        return page("message.html", title="Device connected", is_error=False,
                    message="You can go back to your device: it will continue on its own.")
    return page("message.html", title="Request denied", is_error=False,
                message="The device was not given access. You can close this page.")


def routes() -> list[BaseRoute]:
    return [
        Route(DEVICE_VERIFICATION_PATH, code_form, methods=["GET"]),
        Route(DEVICE_VERIFICATION_PATH, check_code, methods=["POST"]),
        Route(DECISION_PATH, decide, methods=["POST"]),
    ]
