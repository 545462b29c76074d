from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from keyplane.store.tables import metadata


async def test_the_migrations_build_exactly_the_schema_the_code_declares(db):
    def diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return compare_metadata(context, metadata)

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []
