"""A bounded buffer written in batches by a background task, off the request path.

`add` is what a hot path calls: an append, no I/O, no await. A background task writes
the buffer every `flush_seconds`; when the buffer is full (the store is down or slower than
the traffic) new items are dropped and counted rather than growing memory without bound;
a failed write keeps its batch for the next tick; `close()` writes what is left.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from keyplane.background import pause

T = TypeVar("T")
log = logging.getLogger("keyplane.batching")

BATCH_SIZE = 5_000


class BatchWriter(Generic[T]):
    def __init__(self, write: Callable[[Sequence[T]], Awaitable[None]], *, name: str,
                 capacity: int = 100_000, flush_seconds: float = 1.0,
                 maintain: Callable[[], Awaitable[None]] | None = None,
                 maintain_seconds: float = 3600.0, batch_size: int = BATCH_SIZE,
                 pause_seconds: float = 0.0) -> None:
        self._write = write
        # At most `batch_size` items a write, with `pause_seconds` between writes: a store
        # with one writer at a time (SQLite) lets others in between (usage/recorder.py).
        self._batch_size = batch_size
        self._pause_seconds = pause_seconds
        self._maintain = maintain  # housekeeping the background task also runs, now and then
        self._maintain_seconds = maintain_seconds
        self._name = name
        self._buffer: deque[T] = deque()
        self._capacity = capacity
        self._flush_seconds = flush_seconds
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self.added = 0
        self.dropped = 0
        self.flush_failures = 0

    @property
    def depth(self) -> int:
        return len(self._buffer)

    def add(self, item: T) -> None:
        """Queue one item; drops (and counts) it when the buffer is full."""
        if len(self._buffer) >= self._capacity:
            self.dropped += 1
            return
        self._buffer.append(item)
        self.added += 1

    async def flush(self) -> int:
        """Write everything buffered now; returns how many items were written."""
        written = 0
        async with self._lock:
            while self._buffer:
                if written and self._pause_seconds:
                    await asyncio.sleep(self._pause_seconds)
                batch = [self._buffer.popleft() for _ in range(min(self._batch_size, len(self._buffer)))]
                try:
                    await self._write(batch)
                except BaseException:  # also a cancellation: the batch must not be lost
                    self.flush_failures += 1
                    kept = batch[: self._capacity - len(self._buffer)]
                    self.dropped += len(batch) - len(kept)
                    self._buffer.extendleft(reversed(kept))
                    raise
                written += len(batch)
        return written

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"keyplane-{self._name}-flush")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_maintenance = loop.time()
        while not self._stopping.is_set():
            await pause(self._stopping, self._flush_seconds)
            try:
                await self.flush()
                if self._maintain is not None and loop.time() >= next_maintenance:
                    next_maintenance = loop.time() + self._maintain_seconds
                    await self._maintain()
            except Exception:  # the store is down: keep the buffer, try again next tick
                log.warning("%s flush failed; %d buffered", self._name, self.depth, exc_info=True)

    async def close(self) -> None:
        """Stop the background task and write what is left."""
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.error("could not write %d %s items at shutdown", self.depth, self._name,
                      exc_info=True)
