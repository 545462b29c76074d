"""The verifier's background engine (sdk/engine.py): its first start from async code does
not block the caller's loop."""

from __future__ import annotations

import asyncio
import threading

from keyplane.sdk.engine import Engine


async def test_the_first_call_starts_the_engine_while_the_callers_loop_runs_on() -> None:
    # The start waits for something only the caller's loop does: as an in-process service
    # waits at start for a store lock that a transaction on the caller's loop holds.
    callers_loop_ran = threading.Event()

    async def on_start() -> None:
        await asyncio.to_thread(callers_loop_ran.wait, 5.0)
        assert callers_loop_ran.is_set(), "the caller's loop was blocked during the start"

    async def on_stop() -> None:
        pass

    async def answer() -> str:
        return "answered"

    engine = Engine(name="test-engine", on_start=on_start, on_stop=on_stop, on_fork=lambda: None)
    asyncio.get_running_loop().call_later(0.05, callers_loop_ran.set)
    try:
        assert await engine.run_async(answer()) == "answered"
    finally:
        engine.stop()
