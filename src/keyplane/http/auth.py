"""Authenticating management calls: `Authorization: Bearer <root key>` (RFC 6750 §2.1)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Security
from fastapi.security import HTTPBearer
from starlette.requests import HTTPConnection

from keyplane.errors import Unauthenticated
from keyplane.http.context import client_ip, services_of
from keyplane.keys.root_keys import Caller


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer` header; raises Unauthenticated otherwise."""
    if not authorization:
        raise Unauthenticated("send a root key as Authorization: Bearer <key>")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthenticated("the Authorization header must be 'Bearer <key>'")
    return token


async def authenticate(conn: HTTPConnection, permission: str) -> Caller:
    """The calling root key, which must hold `permission` (401 / 403 otherwise)."""
    token = bearer_token(conn.headers.get("authorization"))
    caller = await services_of(conn).root_keys.authenticate(token, ip=client_ip(conn))
    caller.require(permission)
    return caller


async def require_key_in_reach(conn: HTTPConnection, caller: Caller, key_id: str) -> None:
    """Raises NotFound when the key `key_id` is out of the reach of a root key bound to an
    API (another API's key reads as absent); nothing to read for a root key of every API."""
    if caller.api_id is not None:
        caller.require_key(await services_of(conn).keys.get_key(key_id))


# Declares the scheme in the OpenAPI document; the header is parsed by `bearer_token`.
_bearer_scheme = HTTPBearer(auto_error=False, description="A root key", bearerFormat="root key")


def require(permission: str) -> Callable[..., Awaitable[Caller]]:
    """A FastAPI dependency: the calling root key, holding `permission`."""

    async def dependency(conn: HTTPConnection, _: object = Security(_bearer_scheme)) -> Caller:
        return await authenticate(conn, permission)

    dependency.__name__ = f"require_{permission.replace('.', '_')}"
    return dependency
