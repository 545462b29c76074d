"""A background thread with its own event loop: where the verifier does all its I/O.

The verifier's hot path needs no I/O (an offline JWT check, a cache hit). Everything else
— fetching keys, asking keyplane, following the change stream and the revocation feed —
runs on this loop, so one verifier serves asyncio apps (`await verify`: one hop to this
thread on a cache miss, never blocking the app's loop) and WSGI apps (`verify_sync`:
threads wait on a future) alike, with one HTTP client and one set of caches. Calling
`verify_sync` inside a running loop works too (it only blocks that loop for the call).

After a fork (a pre-forking WSGI server) the thread does not exist in the child: the
engine notices the new pid and starts afresh there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class Engine:
    def __init__(self, *, name: str, on_start: Callable[[], Coroutine[Any, Any, None]],
                 on_stop: Callable[[], Coroutine[Any, Any, None]],
                 on_fork: Callable[[], None]) -> None:
        self._name = name
        self._on_start = on_start
        self._on_stop = on_stop
        self._on_fork = on_fork
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The engine's loop, started on first use (and again in a forked child)."""
        loop = self._loop
        if loop is not None and self._pid == os.getpid():
            return loop
        with self._lock:
            if self._loop is not None and self._pid != os.getpid():
                self._loop, self._thread = None, None  # the parent's; gone in this child
                self._on_fork()
            if self._loop is None:
                self._start()
            assert self._loop is not None
            return self._loop

    @property
    def running(self) -> bool:
        return self._loop is not None and self._pid == os.getpid()

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.set)
            loop.run_forever()
            loop.close()

        thread = threading.Thread(target=run, name=self._name, daemon=True)
        thread.start()
        started.wait()
        self._loop, self._thread, self._pid = loop, thread, os.getpid()
        asyncio.run_coroutine_threadsafe(self._on_start(), loop).result()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run_sync(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coro` on the engine and wait (from any thread but the engine's)."""
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError("the verifier's background loop did not answer in time") from None

    async def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the engine and await it from the caller's loop. The first call
        starts the engine from a worker thread: its start (opening an in-process service:
        the store, migrations) must not block the caller's loop, which may hold the very
        store lock that start waits for (a service in the same process: a deadlock until
        SQLite's busy timeout)."""
        loop = self._loop if self.running else await asyncio.to_thread(lambda: self.loop)
        assert loop is not None
        if asyncio.get_running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the background work and the thread (idempotent)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None or self._pid != os.getpid():
                self._loop = self._thread = None
                return
            try:
                asyncio.run_coroutine_threadsafe(self._on_stop(), loop).result(timeout)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout)
                self._loop = self._thread = None
