"""LeasedCredits' own rules, over a store that fails on purpose (the SQL store's behaviour
is tested against SQLite and PostgreSQL in tests/store/test_credit_ledger.py)."""

import asyncio
import dataclasses
from datetime import UTC, datetime

import pytest

from keyplane.clock import FakeClock
from keyplane.metering.credits import Taken
from keyplane.metering.leases import LeasedCredits
from keyplane.keys.model import Credits, KeyConfig, StoredKey
from keyplane.keys.permissions import Grants

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class GoneStore:
    """A store that hands out blocks but cannot take them back while `gone`."""

    def __init__(self) -> None:
        self.gone = True
        self.given_back: list[int] = []

    async def take(self, key: StoredKey, amount: int, now: datetime) -> Taken | None:
        return Taken(10_000 - amount, NOW)

    async def spend(self, key: StoredKey, cost: int, now: datetime) -> tuple[bool, int]:
        raise AssertionError("not reached: the block covers these spends")

    async def give_back(self, key_id: str, amount: int, generation: datetime | None) -> int | None:
        if self.gone:
            raise ConnectionError("the database is gone")
        self.given_back.append(amount)
        return None


class ReorderingStore:
    """One balance on a pool of connections: a take is made at once, in the order called,
    but its answer comes back only when `answer` lets it, in any order."""

    def __init__(self, balance: int) -> None:
        self.balance = balance
        self.answers: list[asyncio.Event] = []

    async def take(self, key: StoredKey, amount: int, now: datetime) -> Taken | None:
        self.balance -= amount
        made, answered = self.balance, asyncio.Event()
        self.answers.append(answered)
        await answered.wait()
        return Taken(made, NOW)

    async def spend(self, key: StoredKey, cost: int, now: datetime) -> tuple[bool, int]:
        raise AssertionError("not reached: the blocks cover these spends")

    async def give_back(self, key_id: str, amount: int, generation: datetime | None) -> int | None:
        self.balance += amount
        return self.balance


async def test_a_rolled_key_and_its_successor_read_their_balance_exactly_whatever_order_takes_answer_in():
    successor, rolled, store, ledger = rolled_pair()
    first = asyncio.ensure_future(ledger.spend(rolled, 1, NOW))
    second = asyncio.ensure_future(ledger.spend(successor, 1, NOW))
    for _ in range(5):  # both are under way, or one waits for the other's take
        await asyncio.sleep(0)
    while not (first.done() and second.done()):
        for answered in reversed(store.answers):  # the later take answers first
            answered.set()
        await asyncio.sleep(0)
    # Two spends of one credit each from 10,000: whatever the order, 9,999 and 9,998.
    assert sorted([first.result()[1], second.result()[1]]) == [9_998, 9_999]
    assert store.balance + ledger.held(successor, NOW) == 9_998
    assert ledger.held(rolled, NOW) == ledger.held(successor, NOW)


async def test_credits_given_back_by_a_rolled_key_count_at_once_in_its_successors_answers():
    successor, rolled, store, ledger = rolled_pair()
    for key in (rolled, successor):  # a block of 100 each
        spending = asyncio.ensure_future(ledger.spend(key, 1, NOW))
        while not spending.done():
            for answered in store.answers:
                answered.set()
            await asyncio.sleep(0)
    await ledger.release(rolled.id)  # the rolled key changes: its 99 unspent credits go back
    assert store.balance == 9_899
    assert await ledger.spend(successor, 1, NOW) == (True, 9_997)  # three spent in all
    assert store.balance + ledger.held(successor, NOW) == 9_997


def rolled_pair() -> tuple[StoredKey, StoredKey, ReorderingStore, LeasedCredits]:
    """A key and the key rolled into it, which keeps the balance both spend
    (metering/credits.balance_of), over one store of 10,000 credits."""
    successor = a_key()
    rolled = dataclasses.replace(successor, id="key_0", config=KeyConfig(credits=Credits(
        remaining=10_000, kept_by=successor.id, kept_since=NOW)))
    store = ReorderingStore(10_000)
    return successor, rolled, store, LeasedCredits(store, FakeClock(NOW))


def a_key() -> StoredKey:
    return StoredKey(id="key_1", api_id="api_1", start="sk_", created_at=NOW, updated_at=NOW,
                     config=KeyConfig(credits=Credits(remaining=10_000)), grants=Grants.of(()))


async def test_a_shutdown_with_the_store_gone_loses_the_block_but_finishes():
    ledger = LeasedCredits(GoneStore(), FakeClock(NOW))
    assert await ledger.spend(a_key(), 1, NOW) == (True, 9_999)
    await ledger.close()  # logged, not raised: the usage and audit flushes come after it
    assert ledger.held(a_key(), NOW) == 0


async def test_an_expired_lease_that_cannot_go_back_is_kept_for_the_next_sweep_and_never_spent():
    clock = FakeClock(NOW)
    store = GoneStore()
    ledger = LeasedCredits(store, clock)
    await ledger.spend(a_key(), 1, NOW)  # a block of 100, 99 left
    clock.advance(seconds=1)
    with pytest.raises(ConnectionError):  # the sweeper logs it and tries again
        await ledger.release_expired()
    assert ledger.held(a_key(), clock.now()) == 0  # expired: kept to give back, not to spend
    store.gone = False
    await ledger.release_expired()
    assert store.given_back == [99]
