"""The two halves of a plain ASGI endpoint: the request read from the channel, the answer sent.

The hot endpoints (key verification, the OAuth token and introspection endpoints) are
classes Starlette routes as ASGI apps: no `Request`, `Response` or route wrapper, ~20 µs
less a request (measured 2026-11-24). What they raise still reaches the app's exception
handlers (http/errors.py) through Starlette's exception middleware, as from any route:
errors have one rendering, wherever they come from.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from keyplane.errors import PayloadTooLarge

_JSON = (b"content-type", b"application/json")


def header(scope: Scope, name: bytes) -> str | None:
    """The first header `name` (lower-case, as ASGI names them), like Starlette's
    `Headers.get`: decoded as Latin-1, None when absent."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def client_host(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client is not None else None


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, at most `limit` bytes (PayloadTooLarge beyond); None when the
    client went away before sending all of it: there is nobody to answer, and a truncated
    body must not be acted on."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_json(send: Send, body: bytes, *, status: int = 200,
                    headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """`body` (JSON, encoded) as the whole answer: `headers`, then Content-Length and
    Content-Type, in the order Starlette's `Response` puts them."""
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode()), _JSON]})
    await send({"type": "http.response.body", "body": body})
