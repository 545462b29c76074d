"""`POST /v1/keys/verify`: the hot path, a plain ASGI endpoint.

No request model and no Starlette `Request`: the body is read straight from the ASGI
channel (size-capped) and decoded by msgspec into a typed struct, which costs a few µs
where a FastAPI route with pydantic models costs 70–80 µs more than a plain route
(measured 2026-11-23 on the team's 2-vCPU machine class). The OpenAPI entry is
generated from the same structs (see openapi.py).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import time
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType
from starlette.types import Receive, Scope, Send

from keyplane.clock import rfc3339, rfc3339_epoch
from keyplane.errors import FieldError, Invalid
from keyplane.http.asgi import client_host, header, read_body
from keyplane.http.auth import bearer_token
from keyplane.http.hot_paths import API_HEADERS
from keyplane.http.json import dumps
from keyplane.keys.idempotency import Replays
from keyplane.keys.model import IPAddress, Verdict
from keyplane.keys.permissions import PermissionQuery, parse_query
from keyplane.services import Services

# Content-Type, and what SecurityHeaders adds on /v1/ (verify answers ahead of it).
_JSON_HEADERS = [(b"content-type", b"application/json"), *API_HEADERS]
MAX_USER_AGENT = 512
_AT_RE = re.compile(r" - at `\$\.?([^`]*)`$")
_NAMED_RE = re.compile(r"field `([^`]*)`")


class VerifyRequest(msgspec.Struct, forbid_unknown_fields=True):
    """What `/v1/keys/verify` takes."""

    key: Annotated[str, msgspec.Meta(max_length=4096, description="The API key to verify")]
    api_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    # No length bound here: parse_query refuses an over-long query as the 400 it is.
    permissions: Annotated[str, msgspec.Meta(examples=["a AND (b OR c)"])] | None = None
    cost: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1
    ip: Annotated[str, msgspec.Meta(max_length=64, description="The end client's address")] | None = None
    user_agent: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    idempotency_key: Annotated[str, msgspec.Meta(
        min_length=1, max_length=256,
        description="The same request again with this key, within 5 minutes, gets the first "
                    "answer and is not charged or recorded again")] | None = None


class RateLimitState(msgspec.Struct):
    name: str
    limit: int
    remaining: int
    reset_at: str
    window_seconds: int | None = None  # for RateLimit-Policy `w` (verifier SDK)


class VerifyResponse(msgspec.Struct):
    """What `/v1/keys/verify` answers, and the OpenAPI schema of it: one source. The fields
    after `code` are there whenever the key was found (`render`), null where the key has
    no such value; a key not found answers `valid` and `code` alone."""

    valid: bool
    code: str
    key_id: str | UnsetType = UNSET
    api_id: str | UnsetType = UNSET
    owner_id: str | None | UnsetType = UNSET
    name: str | None | UnsetType = UNSET
    permissions: list[str] | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET
    expires_at: str | None | UnsetType = UNSET
    credits_remaining: int | None | UnsetType = UNSET
    ratelimits: list[RateLimitState] | UnsetType = UNSET


_decoder = msgspec.json.Decoder(VerifyRequest)


def decode_request(body: bytes) -> VerifyRequest:
    """Decode and validate; raises Invalid (400 unreadable JSON, 422 wrong field)."""
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as exc:
        # msgspec stops at the first problem; a body that is not JSON at all is a 400 even
        # when a schema error comes first (the error path only: the hot path parses once).
        try:
            msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError):  # nesting too deep counts as unreadable
            raise _unreadable() from None
        raise Invalid([_field_error(str(exc))]) from None
    except (msgspec.DecodeError, RecursionError):
        raise _unreadable() from None


def _unreadable() -> Invalid:
    return Invalid([FieldError("", "the body is not valid JSON")], status=400)


def _field_error(message: str) -> FieldError:
    """msgspec's message as a field error: `Expected int - at `$.cost``,
    `Object missing required field `key``, `Object contains unknown field `keys``."""
    at = _AT_RE.search(message)
    path = at.group(1) if at else ""
    text = message[: at.start()] if at else message
    named = _NAMED_RE.search(text)
    if named and text.startswith(("Object missing required field", "Object contains unknown field")):
        field = f"{path}.{named.group(1)}" if path else named.group(1)
        return FieldError(field, "is required" if "missing" in text else "is not a known field")
    return FieldError(path, text)


def render(verdict: Verdict) -> VerifyResponse:
    key = verdict.key
    if key is None:
        return VerifyResponse(verdict.valid, verdict.code.value)
    c = key.config
    return VerifyResponse(
        verdict.valid, verdict.code.value, key_id=key.id, api_id=key.api_id,
        owner_id=c.owner_id, name=c.name, permissions=key.effective_permissions,
        metadata=c.metadata, expires_at=rfc3339(c.expires_at),
        credits_remaining=verdict.credits_remaining,
        ratelimits=[RateLimitState(r.name, r.limit, r.remaining, rfc3339_epoch(r.reset_epoch),
                                   r.window_seconds) for r in verdict.ratelimits])


class VerifyEndpoint:
    """The ASGI app behind `POST /v1/keys/verify` (a class, so Starlette routes it as ASGI).
    One an app: it keeps the answers to requests sent with an `idempotency_key`."""

    def __init__(self) -> None:
        self.replays = Replays()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # `http.auth.authenticate` without the Starlette wrappers it builds (HTTPConnection,
        # Headers, Address): the same header, rules and errors, ~2 µs less a request.
        services: Services = scope["app"].state.services
        caller = await services.root_keys.authenticate(
            bearer_token(header(scope, b"authorization")), ip=client_host(scope))
        caller.require("keys.verify")
        body = await read_body(receive, services.settings.max_body_bytes)
        if body is None:
            return  # the client went away: nothing to verify, nobody to answer
        req = decode_request(body)
        started = time.perf_counter()
        # A root key bound to an API verifies that API's keys only: any other is NOT_FOUND.
        api_id = req.api_id if caller.api_id is None else caller.require_api(req.api_id)
        if req.idempotency_key is None:
            verdict = await services.keys.verify(req.key, api_id=api_id, need=_need(req), ip=_ip(req),
                                                 cost=req.cost, user_agent=_user_agent(req))
            services.metrics.observe_verification(verdict, time.perf_counter() - started)
        else:
            verdict = await self._once(services, caller.actor.id, api_id, req, started)
        body = dumps(render(verdict))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


    async def _once(self, services: Services, caller: str, api_id: str | None,
                    req: VerifyRequest, started: float) -> Verdict:
        """A verification sent with an idempotency key: the answer given to the same request
        before, or a new verification whose answer is kept (keys/idempotency.py)."""
        assert req.idempotency_key is not None
        request = (hashlib.sha256(req.key.encode("utf-8", "surrogatepass")).digest(), api_id,
                   req.permissions, req.cost, req.ip)
        verdict = self.replays.answer(caller, req.idempotency_key, request)
        if verdict is None:
            verdict = await services.keys.verify(req.key, api_id=api_id, need=_need(req), ip=_ip(req),
                                                 cost=req.cost, user_agent=_user_agent(req))
            services.metrics.observe_verification(verdict, time.perf_counter() - started)
            self.replays.keep(caller, req.idempotency_key, request, verdict)
        return verdict


def _user_agent(req: VerifyRequest) -> str | None:
    # Recorded as seen, but storable: no NUL or lone surrogate, and bounded (the column).
    ua = req.user_agent
    if ua is None or (ua.isprintable() and len(ua) <= MAX_USER_AGENT):
        return ua
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in ua[:MAX_USER_AGENT])


def _need(req: VerifyRequest) -> PermissionQuery | None:
    return parse_query(req.permissions) if req.permissions is not None else None


def _ip(req: VerifyRequest) -> IPAddress | None:
    if req.ip is None:
        return None
    try:
        return ipaddress.ip_address(req.ip)
    except ValueError:
        raise Invalid.field("ip", "not an IPv4 or IPv6 address") from None
