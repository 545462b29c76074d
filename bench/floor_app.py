"""The floor of bench/defaults.py: a bare Starlette app, the shape PERF-NOTES measured.

`POST /` reads the JSON body with `await request.json()` and answers a fixed object with
`JSONResponse`. Served by uvicorn with uvloop and httptools, one worker, pinned to the
same core as keyplane: what any Python service on this stack pays before doing anything.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def echo(request: Request) -> JSONResponse:
    await request.json()
    return JSONResponse({"valid": True, "code": "VALID"})


app = Starlette(routes=[Route("/", echo, methods=["POST"])])
