"""Response headers every answer carries, as pure ASGI middleware.

- `Cache-Control: no-store` on `/v1/`: answers there may hold a key shown once, and none
  of them may be kept by a shared cache (RFC 9111 §5.2.2.5).
- `X-Content-Type-Options: nosniff` everywhere: JSON is never sniffed into HTML.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [_NOSNIFF, _NO_STORE] if scope["path"].startswith("/v1/") else [_NOSNIFF]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
