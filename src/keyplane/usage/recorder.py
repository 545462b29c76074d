"""The usage recorder: verifications go into a bounded buffer, written in batches.

`record` is what the hot path calls: an append, no I/O, no await (keyplane/batching.py has
the buffer, the background flush every `flush_seconds`, the drop counter when the store
cannot keep up, and the final flush on graceful shutdown: 1.6 µs a row batched on SQLite,
against 10–14 µs one by one). Once an hour the same task prunes events and hourly counts
older than the retention.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from keyplane.batching import BatchWriter
from keyplane.clock import Clock
from keyplane.usage.events import UsageEvent
from keyplane.usage.repository import UsageRepository

log = logging.getLogger("keyplane.usage")

PRUNE_EVERY_SECONDS = 3600
# A flush's worth of verifications in transactions of ≤ 1,000 (~3 ms of SQLite's write
# lock each, instead of ~15 ms for 5,000), 1 ms apart: the credit spends waiting for that
# lock (store/credits.py polls every 0.1–2 ms) get in between, instead of waiting out the
# whole flush (which set a verification's p99; measured 2026-11-24).
WRITE_BATCH = 1_000
WRITE_PAUSE_SECONDS = 0.001


class UsageRecorder(BatchWriter[UsageEvent]):
    def __init__(self, repository: UsageRepository, clock: Clock, *, capacity: int = 100_000,
                 flush_seconds: float = 0.2, retention_days: int = 90,
                 observe: Callable[[Sequence[UsageEvent]], Awaitable[None]] | None = None) -> None:
        # `observe` reads each batch once it is written (the alert detectors): off the
        # request path, and a batch is never written twice because of it.
        super().__init__(repository.write if observe is None else self._write_observed,
                         name="usage", capacity=capacity,
                         flush_seconds=flush_seconds, maintain=self._prune,
                         maintain_seconds=PRUNE_EVERY_SECONDS, batch_size=WRITE_BATCH,
                         pause_seconds=WRITE_PAUSE_SECONDS)
        self._repository = repository
        self._observe = observe
        self._clock = clock
        self._retention = timedelta(days=retention_days)

    def record(self, event: UsageEvent) -> None:
        """Queue one verification; drops (and counts) it when the buffer is full."""
        self.add(event)

    async def _write_observed(self, batch: Sequence[UsageEvent]) -> None:
        await self._repository.write(batch)
        assert self._observe is not None
        try:
            await self._observe(batch)
        except Exception:
            log.warning("the usage observer failed on a batch of %d", len(batch), exc_info=True)

    @property
    def recorded(self) -> int:
        return self.added

    async def _prune(self) -> None:
        pruned = await self._repository.prune(self._clock.now() - self._retention)
        if pruned:
            log.info("pruned %d usage events older than %s", pruned, self._retention)
