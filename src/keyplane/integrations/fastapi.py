"""FastAPI: `Depends(require(verifier, scopes=[...], permissions="..."))` gives the Principal.

A refused request raises `AuthHTTPException` (an `HTTPException`: status and headers
whatever the app's handlers); FastAPI's default handler puts `{"error",
"error_description"}` under `detail`. `install(app)` renders it as the body itself, the
RFC 6749 §5.2 shape that RFC 6750 clients expect.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable

from fastapi import FastAPI, HTTPException, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer

from keyplane.keys.permissions import parse_query
from keyplane.sdk.errors import AuthError, ratelimit_headers
from keyplane.sdk.principal import Principal
from keyplane.sdk.verifier import Verifier

# Declared for the app's OpenAPI document only (never auto_error): the verifier reads the
# headers itself and answers as RFC 6750 says.
_bearer = HTTPBearer(auto_error=False, description="An access token or an API key")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")


class AuthHTTPException(HTTPException):
    """An AuthError as FastAPI raises errors; `auth_error` is the original."""

    def __init__(self, error: AuthError) -> None:
        super().__init__(error.status, detail=error.to_json(), headers=error.headers)
        self.auth_error = error


def require(verifier: Verifier, *, scopes: Iterable[str] | None = None,
            permissions: str | None = None,
            x_api_key: bool = True) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the request's Principal, which must hold every scope of `scopes` and
    satisfy the permission query `permissions` (403 `insufficient_scope` otherwise)."""
    needed = tuple(scopes) if scopes is not None else None
    if permissions is not None:
        parse_query(permissions)  # a malformed query fails here, at start-up, not per request

    async def dependency(request: Request, response: Response, _bearer_doc: object = Security(_bearer),
                         _key_doc: object = Security(_api_key)) -> Principal:
        client = request.client
        dpop = request.headers.get("dpop")
        try:
            principal = await verifier.verify(
                request.headers.get("authorization"),
                x_api_key=request.headers.get("x-api-key") if x_api_key else None,
                ip=client.host if client is not None else None, scopes=needed,
                permissions=permissions, method=request.method,
                # The URL only proves a DPoP proof: built when there is one.
                url=str(request.url) if dpop is not None else None, dpop=dpop)
        except AuthError as exc:
            raise AuthHTTPException(exc) from None
        if principal.ratelimits:
            response.headers.update(ratelimit_headers(principal.ratelimits, time.time()))
        return principal

    return dependency


def install(app: FastAPI) -> None:
    """Render refusals as `{"error", "error_description"}` with their headers."""

    async def handler(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthHTTPException)
        error = exc.auth_error
        return JSONResponse(error.to_json(), status_code=error.status, headers=error.headers)

    app.add_exception_handler(AuthHTTPException, handler)
