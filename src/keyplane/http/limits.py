"""Request size limit, as pure ASGI middleware (no per-request objects on the fast path)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyplane.errors import PayloadTooLarge
from keyplane.http.errors import problem


class BodyLimit:
    """Refuses bodies over `max_bytes` with 413: by Content-Length up front, or by counting
    a streamed body as it arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    status = 413 if value.isdigit() else 400
                    detail = (f"the body is larger than {self.max_bytes} bytes" if status == 413
                              else "Content-Length is not a number")
                    await problem(status, detail)(scope, receive, send)
                    return
                break
        received = 0
        limit = self.max_bytes

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"the body is larger than {limit} bytes")
            return message

        await self.app(scope, counting_receive, send)
