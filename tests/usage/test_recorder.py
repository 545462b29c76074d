"""The recorder: bounded, batched, never losing what it accepted on a clean stop."""

import asyncio
from datetime import UTC, datetime

from keyplane.clock import FakeClock
from keyplane.usage.events import UsageEvent
from keyplane.usage.recorder import UsageRecorder

T = datetime(2026, 1, 1, tzinfo=UTC)


class ListRepository:
    """Stands in for the store: the outside world of the recorder."""

    def __init__(self, fail=0):
        self.batches, self.fail, self.pruned = [], fail, []

    async def write(self, events):
        if self.fail:
            self.fail -= 1
            raise ConnectionError("store down")
        self.batches.append(list(events))

    async def prune(self, before):
        self.pruned.append(before)
        return 0


def event(i):
    return UsageEvent(time=T, key_id=f"key_{i}", api_id="api_x", owner_id=None, code="VALID",
                      ip=None, user_agent=None)


async def test_a_full_buffer_drops_and_counts_instead_of_growing():
    recorder = UsageRecorder(ListRepository(), FakeClock(T), capacity=3)
    for i in range(5):
        recorder.record(event(i))
    assert (recorder.depth, recorder.recorded, recorder.dropped) == (3, 3, 2)


async def test_close_flushes_everything_buffered():
    repo = ListRepository()
    recorder = UsageRecorder(repo, FakeClock(T), flush_seconds=3600)
    recorder.start()
    for i in range(10):
        recorder.record(event(i))
    await recorder.close()
    assert sum(len(b) for b in repo.batches) == 10
    assert recorder.depth == 0


async def test_the_background_task_flushes_on_its_own():
    repo = ListRepository()
    recorder = UsageRecorder(repo, FakeClock(T), flush_seconds=0.01)
    recorder.start()
    recorder.record(event(1))
    for _ in range(200):
        if repo.batches:
            break
        await asyncio.sleep(0.01)
    await recorder.close()
    assert repo.batches == [[event(1)]]


async def test_a_failed_flush_keeps_the_batch_for_the_next_one():
    repo = ListRepository(fail=1)
    recorder = UsageRecorder(repo, FakeClock(T))
    for i in range(3):
        recorder.record(event(i))
    try:
        await recorder.flush()
    except ConnectionError:
        pass
    assert recorder.depth == 3 and recorder.flush_failures == 1
    assert await recorder.flush() == 3
    assert repo.batches == [[event(0), event(1), event(2)]]


async def test_a_flush_writes_small_batches_and_lets_others_in_between():
    # SQLite has one writer at a time: a credit spend waiting for the lock must find it free
    # between two batches of a flush, not only after the whole flush.
    repo = ListRepository()
    recorder = UsageRecorder(repo, FakeClock(T), flush_seconds=3600)
    for i in range(2_500):
        recorder.record(event(i))
    seen_between: list[int] = []

    async def other_writer() -> None:
        while len(seen_between) < 100 and sum(map(len, repo.batches)) < 2_500:
            seen_between.append(len(repo.batches))
            await asyncio.sleep(0.0002)

    other = asyncio.create_task(other_writer())
    assert await recorder.flush() == 2_500
    await other
    assert [len(b) for b in repo.batches] == [1_000, 1_000, 500]
    assert {1, 2} <= set(seen_between)  # it ran after the first batch and after the second
