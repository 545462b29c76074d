"""`POST /v1/keys/verify`: the hot path, a plain ASGI endpoint.

No request model and no Starlette `Request`: the body is read straight from the ASGI
channel (size-capped) and decoded by msgspec into a typed struct, which costs a few µs
where a FastAPI route with pydantic models costs ~70 µs (PERF-NOTES). The OpenAPI entry is
generated from the same structs (see openapi.py).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

import msgspec
from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send

from keyplane.clock import rfc3339
from keyplane.errors import FieldError, Invalid, PayloadTooLarge
from keyplane.http.auth import authenticate
from keyplane.http.context import services_of
from keyplane.http.json import dumps
from keyplane.keys.model import IPAddress, Verdict
from keyplane.keys.permissions import PermissionQuery, parse_query

_JSON_HEADERS = [(b"content-type", b"application/json")]
_PATH_RE = re.compile(r"`\$\.?([^`]*)`")


class VerifyRequest(msgspec.Struct, forbid_unknown_fields=True):
    """What `/v1/keys/verify` takes."""

    key: Annotated[str, msgspec.Meta(max_length=4096, description="The API key to verify")]
    api_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    permissions: Annotated[str, msgspec.Meta(max_length=1000, examples=["a AND (b OR c)"])] | None = None
    cost: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1
    ip: Annotated[str, msgspec.Meta(max_length=64, description="The end client's address")] | None = None
    user_agent: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    idempotency_key: Annotated[str, msgspec.Meta(max_length=256)] | None = None


class RateLimitState(msgspec.Struct):
    name: str
    limit: int
    remaining: int
    reset_at: str


class VerifyResponse(msgspec.Struct, omit_defaults=True):
    """What `/v1/keys/verify` answers; the fields after `code` appear when the key was found."""

    valid: bool
    code: str
    key_id: str | None = None
    api_id: str | None = None
    owner_id: str | None = None
    name: str | None = None
    permissions: list[str] | None = None
    metadata: dict[str, Any] | None = None
    expires_at: str | None = None
    credits_remaining: int | None = None
    ratelimits: list[RateLimitState] | None = None


_decoder = msgspec.json.Decoder(VerifyRequest)


def decode_request(body: bytes) -> VerifyRequest:
    """Decode and validate; raises Invalid (400 unreadable JSON, 422 wrong field)."""
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH_RE.search(message)
        field = match.group(1) if match else ""
        text = message.split(" - at `")[0]
        if text.startswith("Object missing required field"):
            field, text = (match.group(1) if match else ""), "is required"
        elif text.startswith("Object contains unknown field"):
            text = "is not a known field"
        raise Invalid([FieldError(field, text)]) from None
    except msgspec.DecodeError:
        raise Invalid([FieldError("", "the body is not valid JSON")], status=400) from None


def render(verdict: Verdict) -> dict[str, Any]:
    body: dict[str, Any] = {"valid": verdict.valid, "code": verdict.code.value}
    key = verdict.key
    if key is not None:
        c = key.config
        body.update(
            key_id=key.id, api_id=key.api_id, owner_id=c.owner_id, name=c.name,
            permissions=key.effective_permissions, metadata=c.metadata,
            expires_at=rfc3339(c.expires_at),
            credits_remaining=c.credits.remaining if c.credits is not None else None,
            ratelimits=[],
        )
    return body


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class VerifyEndpoint:
    """The ASGI app behind `POST /v1/keys/verify` (a class, so Starlette routes it as ASGI)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        conn = HTTPConnection(scope)
        services = services_of(conn)
        await authenticate(conn, "keys.verify")
        req = decode_request(await _read_body(receive, services.settings.max_body_bytes))
        verdict = await services.keys.verify(req.key, api_id=req.api_id, need=_need(req), ip=_ip(req))
        body = dumps(render(verdict))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _need(req: VerifyRequest) -> PermissionQuery | None:
    return parse_query(req.permissions) if req.permissions is not None else None


def _ip(req: VerifyRequest) -> IPAddress | None:
    if req.ip is None:
        return None
    try:
        return ipaddress.ip_address(req.ip)
    except ValueError:
        raise Invalid.field("ip", "not an IPv4 or IPv6 address") from None
