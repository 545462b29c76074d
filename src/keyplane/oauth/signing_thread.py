"""Token signatures made on a thread of their own, while the event loop serves on.

`cryptography` lets go of the GIL while OpenSSL signs, so an ES256 signature (~22 µs in a
quiet loop, ~60 µs under load) can run on the second core instead of stalling the loop:
the token endpoint serves ~1.3× the tokens a second on one worker (measured 2026-11-24).

Jobs are batched both ways: the thread takes every job queued since it last looked, and
hands their results back to each loop in one `call_soon_threadsafe` (one wake-up of the
loop for all of them). With no CPU to spare there is no core to win: `run` signs inline.
The hand-off costs latency (~70 µs on this machine's VMs, mostly waking the thread and
then the loop): one client asking for tokens one after another gets ~0.8× the tokens a
second it got signing inline. Signing inline while nothing else waits was tried and lost
the whole gain: under load the endpoint's requests run to completion one at a time (nothing
in them waits), so "nothing else in flight" is what the loop sees until it hands work off.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# A queued job: what to call, with what, and the future of its result.
_Job = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


def _usable_cpus() -> int:
    sched_getaffinity = getattr(os, "sched_getaffinity", None)
    return len(sched_getaffinity(0)) if sched_getaffinity is not None else os.cpu_count() or 1


class SigningThread:
    """Runs calls that release the GIL (signatures) on one daemon thread, started on first use.

    On when the machine has a CPU to spare beside the `workers` event loops (`keyplane serve
    --workers`): with as many workers as CPUs every core already runs a loop."""

    def __init__(self, *, workers: int = 1, enabled: bool | None = None) -> None:
        self.enabled = _usable_cpus() > workers if enabled is None else enabled
        self._jobs: list[_Job] = []
        self._ready = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._closed = False

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)`, on the thread when there is a spare CPU; its exceptions raise here."""
        if not self.enabled or self._closed:
            return fn(*args)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with self._ready:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="keyplane-signing", daemon=True)
                self._thread.start()
            self._jobs.append((fn, args, future))
            self._ready.notify()
        return await future

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._jobs and not self._closed:
                    self._ready.wait()
                batch, self._jobs = self._jobs, []
            if not batch and self._closed:
                return
            done: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
            for fn, args, future in batch:
                try:
                    result, error = fn(*args), None
                except BaseException as exc:  # handed to the caller, raised there
                    result, error = None, exc
                done.setdefault(future.get_loop(), []).append((future, result, error))
            for loop, results in done.items():
                with contextlib.suppress(RuntimeError):  # that loop closed: nobody is waiting
                    loop.call_soon_threadsafe(_deliver, results)

    def close(self) -> None:
        """Finish the jobs queued and stop the thread; later calls sign inline."""
        with self._ready:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)


def _deliver(results: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in results:
        if future.done():  # the request was cancelled meanwhile
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
