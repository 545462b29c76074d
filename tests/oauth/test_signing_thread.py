"""SigningThread: calls run off the event loop's thread, results and errors come back to
the caller, and a closed thread (or one with no CPU to spare) signs inline."""

import asyncio
import os
import threading

import pytest

from keyplane.oauth.signing_thread import SigningThread


def where(tag: int) -> tuple[int, str]:
    return tag, threading.current_thread().name


async def test_calls_run_on_the_signing_thread_and_each_caller_gets_its_own_result():
    signing = SigningThread(enabled=True)
    try:
        results = await asyncio.gather(*(signing.run(where, n) for n in range(200)))
    finally:
        signing.close()
    assert [tag for tag, _ in results] == list(range(200))
    assert {name for _, name in results} == {"keyplane-signing"}


async def test_an_error_in_the_call_is_raised_to_its_caller_only():
    def fails(n: int) -> int:
        if n == 3:
            raise ValueError("this key cannot sign")
        return n

    signing = SigningThread(enabled=True)
    try:
        results = await asyncio.gather(*(signing.run(fails, n) for n in range(6)), return_exceptions=True)
    finally:
        signing.close()
    assert [r if isinstance(r, int) else str(r) for r in results] == [0, 1, 2, "this key cannot sign", 4, 5]


@pytest.mark.parametrize("closed", [False, True])
async def test_without_a_spare_cpu_or_once_closed_calls_run_inline(closed):
    signing = SigningThread(enabled=not closed)
    signing.close()
    assert await signing.run(where, 1) == (1, threading.current_thread().name)


def test_it_is_on_only_with_a_cpu_to_spare_beside_the_workers():
    cpus = len(os.sched_getaffinity(0))
    assert SigningThread(workers=cpus - 1).enabled
    assert not SigningThread(workers=cpus).enabled


def test_one_thread_serves_event_loops_one_after_another():
    signing = SigningThread(enabled=True)
    try:
        for n in range(3):  # each loop is closed before the next: results go to the right one
            assert asyncio.run(signing.run(where, n)) == (n, "keyplane-signing")
    finally:
        signing.close()
