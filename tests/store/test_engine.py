import asyncio

import sqlalchemy as sa

from keyplane.store.engine import Database
from keyplane.store.migrate import migrate


async def test_on_sqlite_a_reader_does_not_wait_for_an_open_write_transaction(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        await migrate(db)
        async with db.transaction() as conn:
            await conn.execute(sa.text("INSERT INTO keyplane_meta VALUES ('a', 'b')"))

            async def read() -> int:
                async with db.engine.connect() as reader:
                    return int((await reader.execute(sa.text("SELECT count(*) FROM keyplane_meta"))).scalar_one())

            # The reader sees the last committed state at once instead of waiting.
            assert await asyncio.wait_for(read(), 2) == 0
    finally:
        await db.dispose()


async def test_a_lookup_survives_its_pooled_postgresql_connection_dying(pg_url):
    from store_harness import Store, empty_tables

    db = Database(pg_url)
    try:
        await migrate(db)
        await empty_tables(db)
        store = Store.over(db)
        api = await store.add_api()
        key = await store.add_key(api.id)
        assert await store.keys.by_hash(store.hashes[key.id]) == key
        import asyncpg

        # What a database restart does to the pool, from a connection outside it.
        admin = await asyncpg.connect(pg_url.replace("postgresql://", "postgres://", 1))
        try:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        finally:
            await admin.close()
        assert await store.keys.by_hash(store.hashes[key.id]) == key
    finally:
        await db.dispose()


async def test_the_data_version_is_read_once_a_turn_and_moves_with_other_connections_commits(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        await migrate(db)
        first = db.sqlite_data_version()
        async with db.transaction() as conn:  # another connection commits (awaited: later turns)
            await conn.execute(sa.text("INSERT INTO keyplane_meta VALUES ('a', 'b')"))
        moved = db.sqlite_data_version()
        assert moved != first
        # Within one turn the memo holds, whatever commits meanwhile; the next turn sees it.
        import sqlite3

        other = sqlite3.connect(db.sqlite_path, isolation_level=None)
        try:
            other.execute("INSERT INTO keyplane_meta VALUES ('c', 'd')")
            assert db.sqlite_data_version() == moved
            await asyncio.sleep(0)
            assert db.sqlite_data_version() != moved
        finally:
            other.close()
        # The hot connection's own commits do not move it.
        settled = db.sqlite_data_version()
        db.sqlite_reader().execute("INSERT INTO keyplane_meta VALUES ('e', 'f')")
        await asyncio.sleep(0)
        assert db.sqlite_data_version() == settled
    finally:
        await db.dispose()


async def test_the_hot_connection_never_checkpoints_the_wal(tmp_path):
    # A checkpoint on the event loop's connection stalls the loop for milliseconds; the
    # other connections' commits (usage and audit flushes, management writes) checkpoint.
    db = Database(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        await migrate(db)
        hot = db.sqlite_reader()
        assert hot.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        (page_size,) = hot.execute("PRAGMA page_size").fetchone()
        for i in range(1500):  # a frame a commit at least
            hot.execute("INSERT INTO keyplane_meta VALUES (?, 'x')", (f"k{i}",))
        # With SQLite's default (1,000 pages) the WAL would have been checkpointed and
        # started over; it holds every commit instead.
        assert (tmp_path / "k.db-wal").stat().st_size > 1400 * page_size
    finally:
        await db.dispose()
