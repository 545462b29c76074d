"""The service's ASGI app: FastAPI, with the hot endpoints answered ahead of its stack.

Key verification, the token endpoint and introspection are plain ASGI endpoints
(http/asgi.py). Behind FastAPI they still crossed its middleware stack on every request
(server errors, telemetry, body limit, response headers, exception mapping, the async exit
stack, the router: ~15 µs of a ~110 µs request on one core, 2026-12-07). `ServiceApp` answers a POST to one of their paths itself and does here what
that stack did for them:

- the response headers (`SecurityHeaders`): the endpoints send them with their answer
  (`SECURITY_HEADERS`, `API_HEADERS`), and an error answer gets them here;
- the body limit: the endpoints read the body with `read_body`, capped at
  KEYPLANE_MAX_BODY_BYTES (a 413, as from `BodyLimit`);
- errors: what an endpoint raises is answered by the same handler the app's exception
  middleware would use (`http.errors.error_response`);
- `scope["app"]`, where the endpoints find the services.

Other methods on those paths (a GET is a 405) and every other request go through FastAPI
as before; the routes stay in its table for the OpenAPI description. Every request, hot or
not, passes the access log first (http/access_log.py) when there is one.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from keyplane.http.access_log import AccessLog
from keyplane.http.errors import error_response
from keyplane.http.headers import SecurityHeaders
from keyplane.oauth.metadata import INTROSPECTION_PATH, TOKEN_PATH

VERIFY_PATH = "/v1/keys/verify"
HOT_PATHS = (VERIFY_PATH, TOKEN_PATH, INTROSPECTION_PATH)
"""The paths of `ServiceApp.hot` (a test holds the two together), which `keyplane serve`
also serves the short way (http/hot_lane.py)."""

# What SecurityHeaders adds, for the endpoints that answer without it.
SECURITY_HEADERS = ((b"x-content-type-options", b"nosniff"),)
API_HEADERS = (*SECURITY_HEADERS, (b"cache-control", b"no-store"))  # under /v1/


class ServiceApp(FastAPI):
    """FastAPI with `hot` (path → ASGI endpoint, POST only) answered first."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hot: dict[str, ASGIApp] = {}
        self.access_log: AccessLog | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.access_log is not None:
                send = self.access_log.wrap(scope, send)
            endpoint = self.hot.get(scope["path"])
            if endpoint is not None and scope["method"] == "POST":
                scope["app"] = self
                try:
                    await endpoint(scope, receive, send)
                except Exception as exc:  # noqa: BLE001 - answered as the app would
                    response = error_response(Request(scope, receive), exc)
                    await SecurityHeaders(response)(scope, receive, send)
                return
        await super().__call__(scope, receive, send)
