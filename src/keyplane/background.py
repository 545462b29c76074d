"""A service's background loop, written once: do a step, pause, again, until stopped.

A failed step is logged and tried again after the pause, never ends the loop: the store or
the network may be down for a while, and the process outlives it. The pause ends early when
`wake` is set (new work, or shutdown setting it too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


async def pause(event: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or until `event` is set if that comes first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


async def repeat(step: Callable[[], Awaitable[None]], *, every_seconds: float, stopping: asyncio.Event,
                 log: logging.Logger, failed: str, wake: asyncio.Event | None = None) -> None:
    """Run `step` until `stopping` is set, pausing `every_seconds` after each run (or until
    `wake`, which is then cleared); a step that raises is logged as `failed` at warning."""
    while not stopping.is_set():
        try:
            await step()
        except Exception:
            log.warning(failed, exc_info=True)
        await pause(wake or stopping, every_seconds)
        if wake is not None:
            wake.clear()
