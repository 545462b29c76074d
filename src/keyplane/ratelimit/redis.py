"""The Redis limiter: exact across any number of replicas, one round trip a verification.

All buckets of a verification are spent by one Lua script (atomic in Redis), called with
EVALSHA directly — redis-py's `Script` helper would add a `SCRIPT EXISTS` round trip.
Keys carry the API id as a hash tag, so every bucket of one call lives in one cluster slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from importlib.resources import files

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from keyplane.ratelimit.base import (
    EPOCH,
    Bucket,
    LimiterUnavailable,
    Outcome,
    decide_all,
    state,
    to_units,
)

_SCRIPT = (files("keyplane.ratelimit") / "gcra.lua").read_text()


class RedisLimiter:
    def __init__(self, client: aioredis.Redis, *, prefix: str = "kp:rl:") -> None:
        self._redis = client
        self._prefix = prefix
        self._sha: str | None = None

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "kp:rl:") -> RedisLimiter:
        # A blocking pool: a burst of verifications waits briefly for a connection instead of
        # failing; the timeouts bound how long a dead Redis can hold a verification.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=64, timeout=0.5, socket_timeout=0.5, socket_connect_timeout=0.5)
        return cls(aioredis.Redis(connection_pool=pool), prefix=prefix)

    async def spend(self, buckets: Sequence[Bucket], cost: int, now: datetime) -> Outcome:
        """Raises LimiterUnavailable when Redis does not answer."""
        moment = now.timestamp()
        keys = [self._prefix + b.key for b in buckets]
        args: list[str | int] = [repr(moment - EPOCH), cost]
        for b in buckets:
            args += [b.limit, b.window_seconds]
        try:
            reply = await self._evalsha(keys, args)
        except RedisError as exc:
            raise LimiterUnavailable(str(exc)) from exc
        allowed = int(reply[0]) == 1
        tats = [float(t) for t in reply[1:]]
        if allowed:
            states = tuple(state(b, t, to_units(b, moment), exceeded=False)
                           for b, t in zip(buckets, tats, strict=True))
        else:
            # Nothing was spent; recompute which bucket refused from the tats Redis holds.
            _, _, states = decide_all(tats, buckets, cost, moment)
        return Outcome(allowed=allowed, states=states)

    async def _evalsha(self, keys: list[str], args: list[str | int]) -> list[bytes]:
        if self._sha is None:
            self._sha = await self._redis.script_load(_SCRIPT)
        try:
            return await self._redis.evalsha(self._sha, len(keys), *keys, *args)  # type: ignore[no-any-return]
        except NoScriptError:  # Redis restarted or flushed its scripts
            self._sha = await self._redis.script_load(_SCRIPT)
            return await self._redis.evalsha(self._sha, len(keys), *keys, *args)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)
