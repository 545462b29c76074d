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
