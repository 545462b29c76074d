from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from keyplane.store.engine import Database
from keyplane.store.migrate import alembic_config, migrate
from keyplane.store.tables import metadata, revocations


async def test_the_migrations_build_exactly_the_schema_the_code_declares(db):
    def diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return compare_metadata(context, metadata)

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_0007_keeps_every_revocation_and_lets_a_whole_client_be_listed(database_url, empty_database_url):
    db = Database(empty_database_url)
    try:
        async with db.transaction() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0006"))
        at = datetime(2026, 1, 1, tzinfo=UTC)
        rows = [{"id": f"rvk_{i}", "jti": f"jti-{i}", "client_id": "cli_a" if i else None,
                 "expires_at": at + timedelta(hours=1), "revoked_at": at + timedelta(seconds=i)}
                for i in range(3)]
        columns = "id, jti, client_id, expires_at, revoked_at"
        async with db.transaction() as conn:
            await conn.execute(sa.text(f"INSERT INTO revocations ({columns}) VALUES "
                                       "(:id, :jti, :client_id, :expires_at, :revoked_at)"), rows)
        await migrate(db)
        async with db.engine.connect() as conn:
            kept = (await conn.execute(sa.select(revocations).order_by(revocations.c.id))).all()
        assert [(r.id, r.jti, r.client_id, r.expires_at, r.revoked_at) for r in kept] == [
            (r["id"], r["jti"], r["client_id"], r["expires_at"], r["revoked_at"]) for r in rows]
        async with db.transaction() as conn:  # a whole client: no jti, and more than one
            await conn.execute(revocations.insert(), [
                {"id": f"rvk_c{i}", "jti": None, "client_id": f"cli_{i}", "expires_at": at,
                 "revoked_at": at} for i in range(2)])
        with pytest.raises(sa.exc.IntegrityError):  # a jti is still listed once
            async with db.transaction() as conn:
                await conn.execute(revocations.insert().values(
                    id="rvk_again", jti="jti-1", client_id=None, expires_at=at, revoked_at=at))
    finally:
        await db.dispose()
