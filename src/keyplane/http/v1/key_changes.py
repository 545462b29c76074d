"""`GET /v1/keys/changes`: changes as server-sent events, for verifiers' caches.

Root key with `keys.verify` (key changes) or `tokens.read` (token changes), or both;
`?api_id=` narrows the key changes to one API. The stream:

    : keyplane key changes
    retry: 1000

    event: ready
    data: {"heartbeat_seconds": 10}

    event: change
    data: {"api_id": "api_...", "key_id": "key_...", "action": "key.revoke"}

    event: signing-keys           the JWKS changed: fetch it again
    data: {"action": "signing_key.rotate"}

    event: revocations            the deny-list grew: read the revocation feed now
    data: {"action": "client.delete"}

    : heartbeat

`ready` comes once this stream receives every change (with Redis, the other replicas'
too): a verifier caches nothing before it. Several worker processes without Redis cannot
promise that, so the stream is refused (503) there. `key_id` null means every key of the API (a
role changed, the API was deleted). A comment line every `HEARTBEAT_SECONDS` lets the
verifier tell a quiet stream from a dead one. The stream ends when the service stops,
when it loses Redis, or when the reader falls behind; a verifier then drops its cache and
reconnects (docs/sdk.md). A plain ASGI endpoint: no buffering, no response model.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from keyplane.errors import Forbidden, Invalid, KeyplaneError
from keyplane.http.auth import bearer_token
from keyplane.http.json import dumps
from keyplane.ids import is_id
from keyplane.keys.changes import TokenChange
from keyplane.services import Services

HEARTBEAT_SECONDS = 10.0
_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"), (b"x-accel-buffering", b"no")]


class KeyChangesEndpoint:
    """The ASGI app behind `GET /v1/keys/changes`."""

    def __init__(self, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:
        self._heartbeat = heartbeat_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: Services = scope["app"].state.services
        client = scope.get("client")
        authorization = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"),
                             None)
        caller = await services.root_keys.authenticate(
            bearer_token(authorization), ip=client[0] if client is not None else None)
        keys, tokens = caller.grants.covers("keys.verify"), caller.grants.covers("tokens.read")
        if not keys and not tokens:
            raise Forbidden("this root key lacks the permission keys.verify (key changes) "
                            "or tokens.read (token changes)")
        api_id = caller.require_api(_api_id(scope))
        hub = services.key_changes
        settings = services.settings
        if settings.workers > 1 and settings.redis_url is None:
            raise _Unavailable(
                f"this service runs {settings.workers} worker processes without KEYPLANE_REDIS_URL: "
                "changes made in the other workers would not reach this stream; verify without caching")
        if hub.stopping:
            raise _Unavailable("the service is stopping; connect again (to another replica)")
        if not hub.live:
            raise _Unavailable("key changes cannot be followed right now (Redis is unreachable); "
                               "verify without caching and retry")
        subscription = hub.subscribe(api_id, keys=keys, tokens=tokens)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
            ready = dumps({"heartbeat_seconds": self._heartbeat}).decode()
            await send({"type": "http.response.body", "more_body": True,
                        "body": f": keyplane key changes\nretry: 1000\n\nevent: ready\ndata: {ready}\n\n".encode()})
            disconnected = asyncio.ensure_future(_disconnect(receive))
            try:
                while True:
                    nxt = asyncio.ensure_future(subscription.next())
                    done, _ = await asyncio.wait({nxt, disconnected}, timeout=self._heartbeat,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    if disconnected in done:
                        nxt.cancel()
                        return
                    if nxt not in done:
                        nxt.cancel()
                        await send({"type": "http.response.body", "body": b": heartbeat\n\n",
                                    "more_body": True})
                        continue
                    change = nxt.result()
                    if change is None:
                        break  # closed: the reader must start again from nothing
                    event = (change.what.encode() if isinstance(change, TokenChange) else b"change")
                    body = b"event: " + event + b"\ndata: " + dumps(change.to_wire()) + b"\n\n"
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            finally:
                disconnected.cancel()
        finally:
            subscription.close("the stream ended")


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _api_id(scope: Scope) -> str | None:
    query_string: bytes = scope.get("query_string", b"")
    try:
        values = parse_qs(query_string.decode("latin-1"), max_num_fields=5).get("api_id")
    except ValueError:  # too many fields
        raise Invalid.field("api_id", "must be one API id", status=400) from None
    if not values:
        return None
    if len(values) > 1 or not is_id(values[0], "api"):
        raise Invalid.field("api_id", "must be one API id", status=400)
    return values[0]


class _Unavailable(KeyplaneError):
    status = 503
    title = "Service Unavailable"
