"""Hear SIGTERM and SIGINT in a served process without taking them from the server.

The HTTP server owns these signals (it stops accepting, drains the requests in flight,
then runs the app's shutdown). Some work must end when the stop begins, not after the
drain: a stream of key changes lasts until its reader goes, and a server that waits for
every request would wait for it. `on_stop_signal` chains a handler in front of the one
installed, which still runs.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def on_stop_signal(callback: Callable[[], None]) -> None:
    """Call `callback` in the running loop when a stop signal arrives, then give the signal
    to the handler that was there before (the server's, or the default one). Call it from
    the main thread, inside the loop (an app's lifespan startup); elsewhere Python refuses
    signal handlers (ValueError)."""
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        previous = signal.getsignal(signum)
        if previous is None:  # installed outside Python: it could not be put back, so leave it
            continue

        def handler(number: int, frame: FrameType | None, previous: Any = previous) -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(callback)
            # Once is enough: the handler that was there takes this signal and the next ones.
            # Raised again rather than called, so that an event loop which listens for
            # signals itself (uvloop's libuv watcher) sees it too.
            signal.signal(number, previous)
            signal.raise_signal(number)

        signal.signal(signum, handler)
