"""How errors look on the wire.

On `/v1/` every error is RFC 9457 `application/problem+json` with `type`, `title`,
`status`, `detail` and, for validation problems, `errors: [{field, message}]`. Anything
that is not a KeyplaneError reaching here is a bug: it is logged with its traceback and
answered with a bare 500 that reveals nothing.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import Any, cast

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from keyplane.errors import (
    FieldError,
    Forbidden,
    Invalid,
    KeyplaneError,
    OAuthError,
    StoreUnavailable,
    Unauthenticated,
)
from keyplane.http.json import dumps

log = logging.getLogger("keyplane.http")

PROBLEM_TYPE = "https://keyplane.dev/problems/"
_TYPES = {400: "invalid-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
          405: "method-not-allowed", 409: "conflict", 413: "payload-too-large",
          415: "unsupported-media-type", 422: "invalid-request", 500: "internal-error"}
_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
           415: "Unsupported Media Type", 422: "Unprocessable Content",
           500: "Internal Server Error", 503: "Service Unavailable"}


def _echo(text: str, limit: int) -> str:
    """Client text echoed in a problem: bounded (a 60 KiB unknown field name is not repeated
    back twice) and valid UTF-8 (a lone surrogate would make the error itself fail)."""
    if len(text) > limit:
        text = text[:limit] + "…"
    return text.encode("utf-8", "replace").decode("utf-8")


def problem(status: int, detail: str, *, errors: Sequence[FieldError] = (),
            headers: dict[str, str] | None = None) -> Response:
    """An RFC 9457 problem response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + _TYPES.get(status, "error"),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": _echo(detail, 2000),
    }
    if errors:
        body["errors"] = [{"field": _echo(e.field, 200), "message": _echo(e.message, 500)}
                          for e in errors[:100]]
    return Response(dumps(body), status_code=status, headers=headers,
                    media_type="application/problem+json")


# The problem `problem()` renders, as the OpenAPI document describes it (no docstring: it
# would become the schema's description).
class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


def _documented(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description,
            "content": {"application/problem+json": {}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _documented("Malformed input"),
    401: _documented("No valid root key"),
    403: _documented("The root key lacks the permission"),
    404: _documented("Unknown id"),
    409: _documented("Conflict with the object's state"),
    413: _documented("Body too large"),
    422: _documented("Invalid field values"),
}
"""The problems a `/v1/` route documents (`responses=ERRORS`)."""


OAUTH_PATH_PREFIX = "/oauth/"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_error(exc: KeyplaneError) -> Response:
    """RFC 6749 §5.2 `{"error", "error_description"}`, never cached. A root key refused at
    an OAuth endpoint (introspection) reads as RFC 6750 §3.1 `invalid_token` /
    `insufficient_scope`; anything else a client sent wrong is `invalid_request`."""
    headers = dict(_NO_STORE)
    if isinstance(exc, OAuthError):
        code, description = exc.code, exc.description or exc.code
        if exc.www_authenticate:
            headers["WWW-Authenticate"] = exc.www_authenticate
        headers.update(exc.headers)
    elif isinstance(exc, StoreUnavailable):
        code, description = "temporarily_unavailable", exc.detail
        headers["Retry-After"] = "1"
    elif isinstance(exc, (Unauthenticated, Forbidden)):
        code = "invalid_token" if isinstance(exc, Unauthenticated) else "insufficient_scope"
        description = exc.detail
        headers["WWW-Authenticate"] = f'Bearer realm="keyplane", error="{code}"'
    else:
        code, description = "invalid_request", exc.detail
    body = {"error": code, "error_description": _echo(description, 500)}
    return Response(dumps(body), status_code=exc.status, headers=headers,
                    media_type="application/json")


def _keyplane_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KeyplaneError)
    if isinstance(exc, OAuthError) or request.url.path.startswith(OAUTH_PATH_PREFIX):
        return oauth_error(exc)
    headers = {"WWW-Authenticate": 'Bearer realm="keyplane"'} if exc.status == 401 else None
    if isinstance(exc, StoreUnavailable):
        headers = {"Retry-After": "1"}
    errors = exc.errors if isinstance(exc, Invalid) else ()
    return problem(exc.status, exc.detail, errors=errors, headers=headers)


def _field_name(loc: Sequence[Any]) -> str:
    # ("body", "ratelimits", 0, "limit") -> "ratelimits[0].limit"; ("query", "limit") -> "limit"
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        elif isinstance(part, str) and (part.startswith("function-after[") or part in ("str", "int")):
            continue  # pydantic's validator wrappers, not field names
        else:
            name += ("." if name else "") + str(part)
    return name


def validation_errors(raw: Sequence[Any]) -> tuple[int, list[FieldError]]:
    """FastAPI/pydantic errors as (status, field errors): unreadable input is 400, a body
    that reads but breaks the rules is 422."""
    errors: list[FieldError] = []
    status = 422
    for e in raw:
        loc = e.get("loc", ())
        if e.get("type") == "json_invalid" or (loc and loc[0] in ("query", "path", "header")):
            status = 400
        message = str(e.get("msg", "invalid"))
        if e.get("type") == "missing":
            message = "is required"
        elif e.get("type") == "extra_forbidden":
            message = "is not a known field"
        elif e.get("type") == "json_invalid":
            message = "the body is not valid JSON"
            loc = ("body",)  # not the character offset pydantic puts there
        errors.append(FieldError(_echo(_field_name(loc), 200), message.removeprefix("Value error, ")))
    return status, errors


def _request_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    status, errors = validation_errors(exc.errors())
    return problem(status, "; ".join(f"{e.field}: {e.message}" if e.field else e.message
                                     for e in errors[:10]), errors=errors)


def _http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404:
        detail = "no such endpoint"
    return problem(exc.status_code, detail, headers=dict(exc.headers or {}))


def _store_unavailable(request: Request, exc: Exception) -> Response:
    """The database failed to answer (SQLAlchemy's OperationalError and pool timeout,
    sqlite3's on the raw hot-path connection): a 503 the client may retry, not a 500."""
    log.error("the database did not answer on %s %s: %s", request.method, request.url.path, exc)
    return _keyplane_error(request, StoreUnavailable("the database is unavailable or busy; try again"))


def _database_error(request: Request, exc: Exception) -> Response:
    """A DBAPI error: the connection was lost (the database restarted or went away in the
    middle of a statement; SQLAlchemy invalidates the connection) is a 503 like any other
    unavailability; anything else is a bug, a 500."""
    assert isinstance(exc, sa_exc.DBAPIError)
    if exc.connection_invalidated or isinstance(exc, sa_exc.InterfaceError):
        return _store_unavailable(request, exc)
    return _unexpected(request, exc)


def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "an internal error occurred; it has been logged")


# Which handler answers which exception: the first class of the exception's MRO found here
# (as Starlette looks them up). `install` gives the app this table; `answer_error` uses it
# for the hot endpoints, which answer ahead of the app's middleware (http/hot_paths.py).
_HANDLERS: dict[type[Exception], Any] = {
    KeyplaneError: _keyplane_error,
    RequestValidationError: _request_validation_error,
    HTTPException: _http_exception,
    sa_exc.OperationalError: _store_unavailable,
    sa_exc.TimeoutError: _store_unavailable,
    sqlite3.OperationalError: _store_unavailable,
    sa_exc.DBAPIError: _database_error,
    Exception: _unexpected,
}


def install(app: FastAPI) -> None:
    for exc_class, handler in _HANDLERS.items():
        app.add_exception_handler(exc_class, handler)


def error_response(request: Request, exc: Exception) -> Response:
    """The answer to `exc`, by the handler `install` gives the app for it."""
    for cls in type(exc).__mro__:
        handler = _HANDLERS.get(cls)
        if handler is not None:
            return cast(Response, handler(request, exc))
    raise exc  # a BaseException that is not an Exception: not ours to answer
