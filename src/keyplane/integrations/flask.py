"""Flask (WSGI): `@require(verifier, scopes=[...])` on a view; the Principal is at
`flask.g.principal`. Uses `Verifier.verify_sync`: a cache hit or an offline JWT check
costs no I/O; otherwise the request's thread waits on the verifier's background loop.

Refusals are answered by the decorator: status, RFC 6750 headers, JSON
`{"error", "error_description"}`. For a key with limits, `RateLimit-Policy` and
`RateLimit` are added to the view's response.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import flask

from keyplane.keys.permissions import parse_query
from keyplane.sdk.errors import AuthError, ratelimit_headers
from keyplane.sdk.verifier import Verifier

F = TypeVar("F", bound=Callable[..., Any])


def require(verifier: Verifier, *, scopes: Iterable[str] | None = None,
            permissions: str | None = None, x_api_key: bool = True) -> Callable[[F], F]:
    """A view decorator: the caller must hold every scope of `scopes` and satisfy the
    permission query `permissions` (403 `insufficient_scope` otherwise)."""
    needed = tuple(scopes) if scopes is not None else None
    if permissions is not None:
        parse_query(permissions)  # a malformed query fails here, at start-up, not per request

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            request = flask.request
            dpop = request.headers.get("DPoP")
            try:
                principal = verifier.verify_sync(
                    request.headers.get("Authorization"),
                    x_api_key=request.headers.get("X-API-Key") if x_api_key else None,
                    ip=request.remote_addr, scopes=needed, permissions=permissions,
                    method=request.method,
                    # The URL only proves a DPoP proof: built when there is one.
                    url=request.url if dpop is not None else None, dpop=dpop)
            except AuthError as exc:
                response = flask.jsonify(exc.to_json())
                response.status_code = exc.status
                response.headers.update(exc.headers)
                response.headers["Cache-Control"] = "no-store"
                return response
            flask.g.principal = principal
            result = flask.make_response(view(*args, **kwargs))
            if principal.ratelimits:
                result.headers.update(ratelimit_headers(principal.ratelimits, time.time()))
            return result

        return guarded  # type: ignore[return-value]

    return decorate
