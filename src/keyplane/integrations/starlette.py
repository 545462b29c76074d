"""Starlette / any ASGI app: `KeyplaneMiddleware(app, verifier=...)` guards every HTTP
request and puts the Principal at `request.state.principal` (`scope["state"]`).

Paths under `exclude` (e.g. `("/healthz",)`) pass unauthenticated. Refusals are answered
here: status, RFC 6750 headers, JSON `{"error", "error_description"}`. For a key with
limits, `RateLimit-Policy` and `RateLimit` are added to the app's response.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from starlette.datastructures import URL
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyplane.keys.permissions import parse_query
from keyplane.sdk.errors import AuthError, ratelimit_headers
from keyplane.sdk.verifier import Verifier


class KeyplaneMiddleware:
    def __init__(self, app: ASGIApp, *, verifier: Verifier, scopes: Iterable[str] | None = None,
                 permissions: str | None = None, exclude: Iterable[str] = (),
                 x_api_key: bool = True) -> None:
        self.app = app
        self.verifier = verifier
        self.scopes = tuple(scopes) if scopes is not None else None
        if permissions is not None:
            parse_query(permissions)  # a malformed query fails here, at start-up, not per request
        self.permissions = permissions
        self.exclude = tuple(exclude)
        self.x_api_key = x_api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.exclude and scope["path"].startswith(self.exclude)):
            await self.app(scope, receive, send)
            return
        authorization = api_key = dpop = None
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"x-api-key" and api_key is None and self.x_api_key:
                api_key = value.decode("latin-1")
            elif name == b"dpop" and dpop is None:
                dpop = value.decode("latin-1")
        client = scope.get("client")
        try:
            principal = await self.verifier.verify(
                authorization, x_api_key=api_key, ip=client[0] if client else None,
                scopes=self.scopes, permissions=self.permissions, method=scope["method"],
                # The URL only proves a DPoP proof: built when there is one (~5 µs a request).
                url=str(URL(scope=scope)) if dpop is not None else None, dpop=dpop)
        except AuthError as exc:
            await _refuse(exc, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        if not principal.ratelimits:
            await self.app(scope, receive, send)
            return
        extra = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                 for k, v in ratelimit_headers(principal.ratelimits, time.time()).items()]

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_limits)


async def _refuse(error: AuthError, send: Send) -> None:
    body = json.dumps(error.to_json()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store"),
               *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
