"""Following `GET /v1/keys/changes` (server-sent events) into the key cache, the JWKS and
the revocation list.

The stream opens with `event: ready` once the service has subscribed this stream to every
change (its own and, with Redis, the other replicas'); only then is the cache enabled.
`event: change` carries `{"api_id", "key_id", "action"}` and drops the matching entries at
once. `event: signing-keys` (a rotation) and `event: revocations` (a JWT revoked, a client
deleted) call `on_signing_keys` / `on_revocations`, which fetch the JWKS / read the feed
now; so does a `ready` after a lost stream, which may have missed some. The service sends a comment line every `heartbeat_seconds`; a stream silent for
three heartbeats, closed, or refused counts as lost: the cache is cleared and disabled
until the next `ready`, and the follower reconnects with a growing delay (0.1 s to 5 s).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec

from keyplane.sdk.errors import ServiceRejected
from keyplane.sdk.keys import KeyCache
from keyplane.sdk.remote import Remote, ServiceUnavailable

log = logging.getLogger("keyplane.sdk")

HEARTBEAT_SECONDS = 10.0  # what the service sends (http/v1/key_changes.py)
MIN_RETRY_SECONDS = 0.1
MAX_RETRY_SECONDS = 5.0


def _nothing() -> None:
    pass


async def follow_changes(remote: Remote, cache: KeyCache, *, api_id: str | None,
                         heartbeat_seconds: float = HEARTBEAT_SECONDS,
                         on_signing_keys: Callable[[], None] = _nothing,
                         on_revocations: Callable[[], None] = _nothing) -> None:
    """Runs until cancelled; keeps `cache` enabled exactly while subscribed."""
    delay = MIN_RETRY_SECONDS
    subscribed_before = False
    while True:
        try:
            async for event, data in remote.change_events(api_id=api_id,
                                                          read_timeout_seconds=3 * heartbeat_seconds):
                if event == "ready":
                    cache.enable()
                    delay = MIN_RETRY_SECONDS
                    if subscribed_before:  # what changed while the stream was down is unknown
                        on_signing_keys()
                        on_revocations()
                    subscribed_before = True
                elif event == "change":
                    _apply(cache, data)
                elif event == "signing-keys":
                    on_signing_keys()
                elif event == "revocations":
                    on_revocations()
            log.info("the key change stream ended; the key cache is off until it is back")
        except ServiceRejected:
            pass  # logged with keyplane's problem detail (sdk/remote.py); tried again
        except ServiceUnavailable as exc:
            if cache.enabled:
                log.warning("the key change stream broke (%s); the key cache is off until it is back", exc)
        finally:
            cache.disable()
        await asyncio.sleep(delay)
        delay = min(MAX_RETRY_SECONDS, delay * 2)


def _apply(cache: KeyCache, data: str) -> None:
    try:
        change = msgspec.json.decode(data)
    except msgspec.DecodeError:
        change = None
    api_id = change.get("api_id") if isinstance(change, dict) else None
    key_id = change.get("key_id") if isinstance(change, dict) else None
    if not isinstance(api_id, str) or not (key_id is None or isinstance(key_id, str)):
        # A change we cannot read could be any key's: trust nothing cached.
        cache.enable()
        return
    cache.invalidate(api_id=api_id, key_id=key_id)
