"""Migrations and SqlMeta on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from store_harness import Store

from keyplane.store.engine import Database
from keyplane.store.migrate import migrate
from keyplane.store.tables import metadata


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))


async def test_migrate_creates_every_table(store: Store) -> None:
    assert {t.name for t in metadata.sorted_tables} | {"alembic_version"} <= await table_names(store.db)


async def test_migrating_again_changes_nothing_and_keeps_the_data(store: Store) -> None:
    api = await store.add_api()
    key = await store.add_key(api.id)
    await store.meta.set_default("pepper", "abc")
    await migrate(store.db)
    await migrate(store.db)
    assert await store.keys.by_hash(store.hashes[key.id]) == key
    assert await store.meta.get("pepper") == "abc"
    async with store.db.engine.connect() as conn:
        versions = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).scalars().all()
    assert len(versions) == 1


async def test_processes_migrating_an_empty_database_at_once_all_succeed(empty_database_url: str) -> None:
    migrators = [Database(empty_database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate(db) for db in migrators))
        assert {t.name for t in metadata.sorted_tables} <= await table_names(migrators[0])
        store = Store.over(migrators[0])
        api = await store.add_api()
        assert await store.apis.get(api.id) == api
    finally:
        for db in migrators:
            await db.dispose()


async def test_set_default_keeps_the_first_value(store: Store) -> None:
    assert await store.meta.get("pepper") is None
    assert await store.meta.set_default("pepper", "first") == "first"
    assert await store.meta.set_default("pepper", "second") == "first"
    assert await store.meta.get("pepper") == "first"
    assert await store.meta.set_default("other", "x") == "x"


async def test_concurrent_set_defaults_all_answer_the_one_stored_value(database_url: str, store: Store) -> None:
    replicas = [Database(database_url) for _ in range(4)]
    try:
        answers = await asyncio.gather(*(
            Store.over(db).meta.set_default("fingerprint", f"replica-{i}") for i, db in enumerate(replicas)
        ))
    finally:
        for db in replicas:
            await db.dispose()
    stored = await store.meta.get("fingerprint")
    assert stored is not None and set(answers) == {stored}
