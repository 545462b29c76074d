"""Request size limit, as pure ASGI middleware (no per-request objects on the fast path)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyplane.errors import PayloadTooLarge
from keyplane.http.errors import problem


class BodyLimit:
    """Refuses bodies over `max_bytes` with 413: by Content-Length up front, or by counting
    a streamed (chunked) body as it arrives.

    A streamed body that grows too large makes `receive` raise; whatever the app then answers
    (FastAPI turns any failure to read a body into its own 400) is dropped, and the 413 is
    sent in its place, so the client learns the real reason on every route alike.
    """

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
                # The server delivers no more than Content-Length bytes: nothing to count.
                await self.app(scope, receive, send)
                return
        received = 0
        limit = self.max_bytes
        too_large = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise PayloadTooLarge(f"the body is larger than {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large and not started:
                return  # the app's answer to a body it could not read; ours follows
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except PayloadTooLarge:
            if not too_large or started:
                raise
        if too_large and not started:
            await problem(413, f"the body is larger than {limit} bytes")(scope, receive, send)
