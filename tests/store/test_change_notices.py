"""PostgreSQL: the key lookup keeps keys while PostgreSQL tells it of every change.

`here` is the process under test (a repository with its listener); `there` is another
process on the same database (its own engine, no listener) whose writes `here` must see.
A change of a key's balance is not told (a spend is not a change of its answer), so an
untold write of it shows whether a lookup was answered from memory or from the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from store_harness import Store

from keyplane.keys.changes import KeyChange
from keyplane.keys.model import Credits
from keyplane.store import keys as store_keys
from keyplane.store.change_notices import ChangeListener
from keyplane.store.engine import Database
from keyplane.store.keys import SqlKeyRepository
from keyplane.store.tables import keys

pytestmark = pytest.mark.parametrize("backend", ["postgresql"])


@dataclass
class Here:
    keys: SqlKeyRepository
    listener: ChangeListener


@pytest.fixture
async def here(db: Database) -> AsyncIterator[Here]:
    process = Database(str(db.url.set(drivername="postgresql")))
    repository = SqlKeyRepository(process)
    listener = ChangeListener(process.dsn, [repository])
    listener.start()
    await until(lambda: listener.listening)
    try:
        yield Here(repository, listener)
    finally:
        await listener.close()
        await process.dispose()


async def until(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.01)


async def set_balance_untold(store: Store, key_id: str, balance: int) -> None:
    async with store.db.transaction() as conn:
        await conn.execute(keys.update().where(keys.c.id == key_id).values(credits_remaining=balance))


async def balance_here(here: Here, store: Store, key_id: str) -> int:
    found = await here.keys.by_hash(store.hashes[key_id])
    assert found is not None and found.config.credits is not None
    return found.config.credits.remaining


async def test_a_key_is_kept_until_another_process_changes_it(here, store: Store) -> None:
    api = await store.add_api()
    key = await store.add_key(api.id, name="kept")
    assert (await here.keys.by_hash(store.hashes[key.id])).config.name == "kept"
    async with store.db.transaction() as conn:  # untold: last use is not an answer's change
        await conn.execute(keys.update().where(keys.c.id == key.id).values(last_used_at=store.tick()))
    assert (await here.keys.by_hash(store.hashes[key.id])).last_used_at is None  # from memory
    await store.keys.revoke(key.id, store.tick(), store.event("key.revoke", key.id))

    async def revoked() -> bool:
        return (await here.keys.by_hash(store.hashes[key.id])).revoked_at is not None

    deadline = time.monotonic() + 5
    while not await revoked():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


async def test_a_deleted_key_and_a_changed_role_are_told(here, store: Store) -> None:
    api = await store.add_api()
    await store.add_role(api, "reader", "documents.read")
    key = await store.add_key(api.id, roles=("reader",))
    gone = await store.add_key(api.id)
    assert (await here.keys.by_hash(store.hashes[key.id])).grants.covers("documents.read")
    assert await here.keys.by_hash(store.hashes[gone.id]) is not None
    await store.add_role(api, "reader", "documents.write")
    await store.keys.delete(gone.id, store.event("key.delete", gone.id))
    await until(lambda: not here.keys.cache.kept)  # both notices dropped what they touched
    changed = await here.keys.by_hash(store.hashes[key.id])
    assert changed.grants.covers("documents.write") and not changed.grants.covers("documents.read")
    assert await here.keys.by_hash(store.hashes[gone.id]) is None


async def test_a_spend_is_not_told_but_a_key_with_credits_is_read_again_within_a_second(
        here, store: Store) -> None:
    api = await store.add_api()
    key = await store.add_key(api.id, credits=Credits(remaining=10))
    assert await balance_here(here, store, key.id) == 10
    await set_balance_untold(store, key.id, 7)
    assert await balance_here(here, store, key.id) == 10  # kept
    await asyncio.sleep(store_keys.PG_BALANCE_SECONDS)
    assert await balance_here(here, store, key.id) == 7


async def test_while_not_listening_nothing_is_kept(here, store: Store) -> None:
    api = await store.add_api()
    key = await store.add_key(api.id, credits=Credits(remaining=10))
    assert await balance_here(here, store, key.id) == 10
    async with store.db.transaction() as conn:  # the listener's connection is cut
        await conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"))
    await until(lambda: not here.listener.listening)
    await set_balance_untold(store, key.id, 6)
    assert await balance_here(here, store, key.id) == 6  # read from the database
    await until(lambda: here.listener.listening)  # back: keeping again
    await balance_here(here, store, key.id)
    await set_balance_untold(store, key.id, 5)
    assert await balance_here(here, store, key.id) == 6


async def test_a_key_read_while_a_change_is_told_is_not_kept(here, store: Store, monkeypatch) -> None:
    api = await store.add_api()
    key = await store.add_key(api.id, credits=Credits(remaining=10))
    decode = store_keys.keys_from_rows

    def told_meanwhile(rows):  # the change's notice arrives while the row is on its way
        here.keys.notice(key.id)
        return decode(rows)

    monkeypatch.setattr(store_keys, "keys_from_rows", told_meanwhile)
    assert await balance_here(here, store, key.id) == 10
    monkeypatch.setattr(store_keys, "keys_from_rows", decode)
    await set_balance_untold(store, key.id, 4)
    assert await balance_here(here, store, key.id) == 4  # the read before was not kept


async def test_a_write_through_this_process_is_seen_at_once(here, store: Store) -> None:
    api = await store.add_api()
    key = await store.add_key(api.id)
    assert (await here.keys.by_hash(store.hashes[key.id])).revoked_at is None
    here.listener._watchers = ()  # notices come too late for this
    await here.keys.revoke(key.id, store.tick(), store.event("key.revoke", key.id))
    assert (await here.keys.by_hash(store.hashes[key.id])).revoked_at is not None


async def test_a_change_relayed_by_redis_is_forgotten_before_postgresql_tells(here, store: Store) -> None:
    # Redis may bring another replica's change before PostgreSQL's notice; the verifier told
    # of it asks this process at once, which must not answer from the row it kept.
    api = await store.add_api()
    key = await store.add_key(api.id, name="kept")
    assert (await here.keys.by_hash(store.hashes[key.id])).revoked_at is None  # kept from now on
    async with store.db.transaction() as conn:
        # No trigger fires in this transaction: PostgreSQL tells no one (the notice "late").
        await conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        await conn.execute(keys.update().where(keys.c.id == key.id).values(revoked_at=store.tick()))
    await asyncio.sleep(0.2)
    assert (await here.keys.by_hash(store.hashes[key.id])).revoked_at is None  # from memory
    here.keys.change_published(KeyChange(api_id=api.id, key_id=key.id, action="key.revoke"))
    assert (await here.keys.by_hash(store.hashes[key.id])).revoked_at is not None
