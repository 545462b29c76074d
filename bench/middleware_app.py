"""A user's API for bench/defaults.py: one Starlette endpoint, with and without keyplane.

`unprotected` answers `GET /items` with a small JSON object; `protected` is the same app
behind `KeyplaneMiddleware` with a remote `Verifier` (KEYPLANE_URL, KEYPLANE_ISSUER,
KEYPLANE_ROOT_KEY, KEYPLANE_API_ID from the environment), so a request carrying a cached
API key costs the middleware and the cache hit, nothing else.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def items(request: Request) -> JSONResponse:
    return JSONResponse({"items": [1, 2, 3]})


unprotected = Starlette(routes=[Route("/items", items)])


def _protected() -> Starlette:
    from keyplane.integrations.starlette import KeyplaneMiddleware
    from keyplane.sdk import Verifier

    verifier = Verifier(issuer=os.environ["KEYPLANE_ISSUER"], url=os.environ["KEYPLANE_URL"],
                        root_key=os.environ["KEYPLANE_ROOT_KEY"],
                        api_id=os.environ["KEYPLANE_API_ID"])

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with verifier:
            yield

    app = Starlette(routes=[Route("/items", items)], lifespan=lifespan)
    app.add_middleware(KeyplaneMiddleware, verifier=verifier)
    return app


protected = _protected() if os.environ.get("KEYPLANE_API_ID") else None
