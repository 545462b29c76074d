"""Credits in the store: atomic spends, refills, no overspend under concurrency."""

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from keyplane.clock import FakeClock
from keyplane.metering.leases import LeasedCredits
from keyplane.keys.model import Credits, Refill
from keyplane.store.credits import SqlCreditLedger
from keyplane.store.engine import Database
from keyplane.store.tables import keys


async def spent(ledger, key, cost, at):
    ok, remaining = await ledger.spend(key, cost, at)
    return remaining if ok else None


async def balance(store, key_id):
    async with store.db.engine.connect() as conn:
        return (await conn.execute(sa.select(keys.c.credits_remaining).where(keys.c.id == key_id))).scalar_one()


async def test_a_spend_takes_the_cost_and_returns_the_balance(store):
    api = await store.add_api()
    key = await store.add_key(api.id, credits=Credits(remaining=10))
    ledger = SqlCreditLedger(store.db)
    assert await spent(ledger, key, 3, store.now) == 7
    assert await spent(ledger, key, 7, store.now) == 0
    assert await spent(ledger, key, 1, store.now) is None
    assert await balance(store, key.id) == 0


async def test_a_spend_larger_than_the_balance_spends_nothing(store):
    api = await store.add_api()
    key = await store.add_key(api.id, credits=Credits(remaining=5))
    ledger = SqlCreditLedger(store.db)
    assert await ledger.spend(key, 6, store.now) == (False, 5)
    assert await balance(store, key.id) == 5


async def test_concurrent_spends_never_overspend(store):
    api = await store.add_api()
    key = await store.add_key(api.id, credits=Credits(remaining=100))
    ledger = SqlCreditLedger(store.db)
    results = await asyncio.gather(*(ledger.spend(key, 1, store.now) for _ in range(300)))
    assert sum(ok for ok, _ in results) == 100
    assert await balance(store, key.id) == 0
    assert sorted(r for ok, r in results if ok) == list(range(100))
    assert all(r == 0 for ok, r in results if not ok)


async def test_a_daily_refill_restores_the_amount_once_a_day(store):
    api = await store.add_api()
    key = await store.add_key(api.id, credits=Credits(remaining=2, refill=Refill(amount=5, interval="daily")))
    ledger = SqlCreditLedger(store.db)
    today = store.now
    # The key was created today: today's period counts as refilled already.
    assert await spent(ledger, key, 2, today + timedelta(hours=1)) == 0
    assert await spent(ledger, key, 1, today + timedelta(hours=2)) is None
    tomorrow = today.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1, hours=2)
    assert await spent(ledger, key, 1, tomorrow) == 4
    assert await spent(ledger, key, 1, tomorrow + timedelta(hours=3)) == 3


async def test_a_refill_every_n_seconds_counts_periods_from_the_key_creation(store):
    api = await store.add_api()
    key = await store.add_key(api.id, credits=Credits(remaining=1, refill=Refill(amount=3, interval_seconds=60)))
    ledger = SqlCreditLedger(store.db)
    assert await spent(ledger, key, 1, key.created_at + timedelta(seconds=61)) == 2
    assert await spent(ledger, key, 2, key.created_at + timedelta(seconds=119)) == 0
    assert await spent(ledger, key, 1, key.created_at + timedelta(seconds=119)) is None
    assert await spent(ledger, key, 1, key.created_at + timedelta(seconds=120)) == 2


async def test_leases_of_two_processes_never_overspend_and_lose_no_credit(store, database_url):
    # Two processes' ledgers (each its own Database, so on SQLite its own hot connection)
    # spend one balance at once: more verifications than credits. Whatever each holds
    # unspent at the end goes back on close, so spent + stored == the starting balance.
    api = await store.add_api()
    key = await store.add_key(api.id, credits=Credits(remaining=1_000))
    other_db = Database(database_url)
    try:
        here = LeasedCredits(SqlCreditLedger(store.db), FakeClock(store.now), max_block=20, share=10)
        there = LeasedCredits(SqlCreditLedger(other_db), FakeClock(store.now), max_block=20, share=10)
        rounds = [asyncio.gather(*(ledger.spend(key, 1, store.now) for _ in range(50)))
                  for _ in range(12) for ledger in (here, there)]
        results = [r for batch in await asyncio.gather(*rounds) for r in batch]
        spent = sum(ok for ok, _ in results)
        assert 1_000 - 2 * 20 <= spent <= 1_000  # at most a block held apart in each process
        await here.close()
        await there.close()
        assert await balance(store, key.id) == 1_000 - spent
    finally:
        await other_db.dispose()


async def test_a_lease_spends_in_memory_and_gives_back_what_is_left(store):
    api = await store.add_api()
    key = await store.add_key(api.id, credits=Credits(remaining=10_000))
    clock = FakeClock(store.now)
    ledger = LeasedCredits(SqlCreditLedger(store.db), clock)
    assert await ledger.spend(key, 1, clock.now()) == (True, 9_999)
    assert await balance(store, key.id) == 9_900  # a block of 10_000 // 100 taken
    assert ledger.held(key, clock.now()) == 99
    assert await ledger.spend(key, 5, clock.now()) == (True, 9_994)
    assert await balance(store, key.id) == 9_900  # no write for a spend from the lease
    clock.advance(seconds=1)
    await ledger.release_expired()
    assert ledger.held(key, clock.now()) == 0
    assert await balance(store, key.id) == 9_994


async def test_a_lease_taken_before_the_balance_was_set_is_not_given_back(store):
    api = await store.add_api()
    key = await store.add_key(api.id, credits=Credits(remaining=10_000))
    ledger = LeasedCredits(SqlCreditLedger(store.db), FakeClock(store.now))
    await ledger.spend(key, 1, store.now)
    async with store.db.transaction() as conn:  # what a PATCH of the credits writes
        await conn.execute(keys.update().where(keys.c.id == key.id).values(
            credits_remaining=7, credits_refilled_at=store.now + timedelta(seconds=1)))
    await ledger.release(key.id)
    assert await balance(store, key.id) == 7


async def test_a_small_balance_is_spent_exactly_without_a_lease(store):
    api = await store.add_api()
    key = await store.add_key(api.id, credits=Credits(remaining=150))
    ledger = LeasedCredits(SqlCreditLedger(store.db), FakeClock(store.now))
    assert await ledger.spend(key, 1, store.now) == (True, 149)
    assert await balance(store, key.id) == 149 and ledger.held(key, store.now) == 0
