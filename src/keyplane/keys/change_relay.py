"""Key changes across replicas: one Redis pub/sub channel (with `KEYPLANE_REDIS_URL`).

Each replica publishes its own changes on the channel, tagged with a random origin, and
delivers the others' to its local subscribers (its own were delivered at once, in
process). Pub/sub keeps nothing for a replica that is not listening, so the relay tells
the hub when it is subscribed and when it is not: while it is not, the hub closes every
subscription and accepts no new one (a verifier then caches nothing), because a change
made on another replica meanwhile would be lost.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from keyplane.keys.changes import Change, KeyChange, KeyChangeHub, TokenChange

log = logging.getLogger("keyplane")

CHANNEL = "kp:key-changes"
TIMEOUT_SECONDS = 0.5
RETRY_SECONDS = 1.0


class RedisKeyChangeRelay:
    def __init__(self, url: str, hub: KeyChangeHub, *, channel: str = CHANNEL) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=None,
            health_check_interval=5)
        self._publisher = aioredis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS)
        self._hub = hub
        self._channel = channel
        self._origin = secrets.token_hex(8)
        self._task: asyncio.Task[None] | None = None
        hub.attach_relay(self)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="key-change-relay")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self._redis.aclose()
        await self._publisher.aclose()

    async def publish(self, change: Change) -> None:
        # A token change travels as `{"kind", "action"}`: a replica that predates it finds
        # no `api_id` there and ignores it.
        wire = ({"kind": change.what, **change.to_wire()} if isinstance(change, TokenChange)
                else change.to_wire())
        message = msgspec.json.encode({"origin": self._origin, **wire})
        try:
            await asyncio.wait_for(self._publisher.publish(self._channel, message), TIMEOUT_SECONDS)
        except (RedisError, OSError, TimeoutError) as exc:
            # The write is committed; other replicas' verifiers keep a cached answer until
            # their cache entries expire (docs/sdk.md: the bound when Redis fails).
            log.error("change %s of %s not relayed to other replicas: %s", change.action,
                      change.what if isinstance(change, TokenChange) else change.key_id or change.api_id,
                      exc)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._hub.set_live(True)
                    while True:
                        message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                           timeout=1.0)
                        if message is not None:
                            self._received(message.get("data"))
            except asyncio.CancelledError:
                self._hub.set_live(False, "the service is stopping")
                raise
            except (RedisError, OSError) as exc:
                if self._hub.live:
                    log.error("key change relay lost Redis (%s); verifier caches are off "
                              "until it is back", exc)
                self._hub.set_live(False)
                await asyncio.sleep(RETRY_SECONDS)

    def _received(self, data: object) -> None:
        try:
            decoded = msgspec.json.decode(data) if isinstance(data, (bytes, str)) else None
        except msgspec.DecodeError:
            return
        if not isinstance(decoded, dict) or decoded.get("origin") == self._origin:
            return
        change: Change | None = (TokenChange.from_relay(decoded) if "kind" in decoded
                                 else KeyChange.from_wire(decoded))
        if change is not None:
            self._hub.deliver(change)
