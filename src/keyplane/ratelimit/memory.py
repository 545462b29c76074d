"""The in-process limiter: exact for one process (the embedded default)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from keyplane.ratelimit.base import Bucket, Outcome, SpendNow, decide_all, new_tuple

_PRUNE_FLOOR = 10_000


class MemoryLimiter:
    """Buckets in a dict. `spend` never awaits between reading and writing a bucket, so on
    one event loop it is atomic without a lock."""

    def __init__(self) -> None:
        self._tats: dict[str, float] = {}
        self._expires: dict[str, float] = {}
        self._prune_at = _PRUNE_FLOOR

    async def spend(self, buckets: Sequence[Bucket], cost: int, now: datetime) -> Outcome:
        return self.spend_now(buckets, cost, now)

    def immediate(self) -> SpendNow:
        return self.spend_now

    def spend_now(self, buckets: Sequence[Bucket], cost: int, now: datetime) -> Outcome:
        """`spend` without a coroutine (it never waits): what the metering calls."""
        moment = now.timestamp()
        tats = self._tats
        allowed, stored, states = decide_all([tats.get(b.key) for b in buckets], buckets, cost, moment)
        if allowed and cost > 0:
            expires = self._expires
            for i, bucket in enumerate(buckets):
                tats[bucket.key] = stored[i]
                expires[bucket.key] = states[i].reset_epoch
            if len(tats) > self._prune_at:
                self._prune(moment)
        return new_tuple(Outcome, (allowed, states))

    def _prune(self, now: float) -> None:
        # A bucket whose tat has passed is full again: the same as no entry at all. Tats
        # are in per-bucket units, so each entry keeps the moment it expires beside it.
        self._tats = {k: t for k, t in self._tats.items() if self._expires.get(k, 0.0) > now}
        self._expires = {k: self._expires[k] for k in self._tats}
        self._prune_at = max(_PRUNE_FLOOR, 2 * len(self._tats))

    async def close(self) -> None:
        self._tats.clear()
