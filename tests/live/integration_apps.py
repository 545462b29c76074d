"""One small documents API per integration, each guarded by keyplane's adapter:
`GET /documents` needs `documents.read`, `POST /documents` needs `documents.write`.
`client(kind, verifier)` serves one on a real server and returns a function
`(method, path, headers) -> (status, headers, json)` calling it over HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from keyplane import Principal, Verifier

Call = Callable[[str, str, dict[str, str]], tuple[int, dict[str, str], Any]]


def _who(p: Principal) -> dict[str, Any]:
    return {"kind": p.kind, "subject": p.subject, "key_id": p.key_id, "client_id": p.client_id}


def fastapi_app(verifier: Verifier) -> Any:
    from fastapi import Depends, FastAPI

    from keyplane.integrations.fastapi import install, require

    app = FastAPI()
    install(app)

    reader = Depends(require(verifier, scopes=["documents.read"]))
    writer = Depends(require(verifier, scopes=["documents.write"]))

    @app.get("/documents")
    async def read(p: Principal = reader) -> dict[str, Any]:
        return _who(p)

    @app.post("/documents")
    async def write(p: Principal = writer) -> dict[str, Any]:
        return _who(p)

    return app


def starlette_app(verifier: Verifier) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from keyplane.integrations.starlette import KeyplaneMiddleware

    async def who(request: Request) -> JSONResponse:
        return JSONResponse(_who(request.state.principal))

    reads = KeyplaneMiddleware(Starlette(routes=[Route("/documents", who, methods=["GET"])]),
                               verifier=verifier, scopes=["documents.read"])
    writes = KeyplaneMiddleware(Starlette(routes=[Route("/documents", who, methods=["POST"])]),
                                verifier=verifier, scopes=["documents.write"])

    # Each method behind its own middleware (its own scopes), as an app composes them.
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await (writes if scope.get("method") == "POST" else reads)(scope, receive, send)

    return app


def flask_app(verifier: Verifier) -> Any:
    import flask

    from keyplane.integrations.flask import require

    app = flask.Flask("documents")

    @app.get("/documents")
    @require(verifier, scopes=["documents.read"])
    def read() -> Any:
        return _who(flask.g.principal)

    @app.post("/documents")
    @require(verifier, scopes=["documents.write"])
    def write() -> Any:
        return _who(flask.g.principal)

    return app


def serve(kind: str, verifier: Verifier) -> tuple[str, Callable[[], None]]:
    """The app of `kind` served on a free loopback port by a real server in a thread
    (uvicorn for the ASGI apps, werkzeug's threaded server for Flask): `(url, stop)`."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    if kind == "flask":
        from werkzeug.serving import make_server

        wsgi = make_server("127.0.0.1", port, flask_app(verifier), threaded=True)
        thread = threading.Thread(target=wsgi.serve_forever, daemon=True)
        thread.start()

        def stop_wsgi() -> None:
            wsgi.shutdown()
            thread.join(5)

        return f"http://127.0.0.1:{port}", stop_wsgi
    import uvicorn

    app = fastapi_app(verifier) if kind == "fastapi" else starlette_app(verifier)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.01)

    def stop_asgi() -> None:
        server.should_exit = True
        thread.join(5)

    return f"http://127.0.0.1:{port}", stop_asgi


def client(kind: str, verifier: Verifier) -> tuple[Call, Callable[[], None]]:
    """A function calling the app of `kind` over HTTP, and one stopping it."""
    url, stop = serve(kind, verifier)
    http = httpx.Client(base_url=url, timeout=10.0)

    def call(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        response = http.request(method, path, headers=headers)
        return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.json()

    def close() -> None:
        http.close()
        stop()

    return call, close
