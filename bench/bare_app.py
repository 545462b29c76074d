"""The baseline of verify_http.py: keyplane's own app with a bare endpoint in front.

`create_app` here is `keyplane.app.app_from_environment()` (same middleware, exception
handlers, lifespan and server options as the real service) with two POST routes inserted
just before `/v1/keys/verify` (so they are matched after the same routes verify is), both
answering a fixed small JSON object after reading the body:

- `/v1/bench/bare`          a plain ASGI endpoint reading the body from the ASGI channel,
                            exactly as `VerifyEndpoint` does: the floor verify is measured
                            against (it does everything verify does but verify);
- `/v1/bench/bare-request`  a Starlette function endpoint: `await request.json()` and a
                            `Response` (the shape PERF-NOTES measured).

Both live under `/v1/` so the response-header middleware treats them as it treats verify.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from keyplane.app import app_from_environment

ANSWER = b'{"valid":true,"code":"VALID"}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


class BareEndpoint:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        if not b"".join(chunks):
            raise AssertionError("the benchmark always sends a body")
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": ANSWER})


async def bare_request(request: Request) -> Response:
    await request.json()
    return Response(ANSWER, media_type="application/json")


def create_app() -> FastAPI:
    app = app_from_environment()
    # Where the verify route is, so a request reaches either after the same route checks.
    at = next(i for i, r in enumerate(app.router.routes) if getattr(r, "path", "") == "/v1/keys/verify")
    app.router.routes[at:at] = [
        Route("/v1/bench/bare", BareEndpoint(), methods=["POST"]),
        Route("/v1/bench/bare-request", bare_request, methods=["POST"]),
    ]
    return app
