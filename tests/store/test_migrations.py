from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from keyplane.store.engine import Database
from keyplane.store.migrate import alembic_config, migrate
from keyplane.store.tables import apis, keys, metadata, revocations, users


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


async def test_0008_downgrade_gives_each_rolled_key_a_copy_of_the_balance_it_shared(empty_database_url):
    db = Database(empty_database_url)
    try:
        await migrate(db)
        at = datetime(2026, 1, 1, tzinfo=UTC)
        key = {"api_id": "api_a", "start": "sk_", "permissions": "[]", "metadata": "{}",
               "ratelimits": "[]", "ip_allowlist": "[]", "enabled": True, "created_at": at,
               "updated_at": at, "credits_remaining": None, "credits_key_id": None}
        async with db.transaction() as conn:
            await conn.execute(apis.insert().values(id="api_a", name="a", key_prefix="sk", created_at=at))
            await conn.execute(keys.insert(), [
                {**key, "id": "key_new", "key_hash": b"n", "credits_remaining": 7},
                {**key, "id": "key_old", "key_hash": b"o", "credits_key_id": "key_new"},
                {**key, "id": "key_gone", "key_hash": b"g", "credits_key_id": "key_deleted"},
                {**key, "id": "key_free", "key_hash": b"f"}])
        async with db.transaction() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0007"))
        async with db.engine.connect() as conn:
            rows = (await conn.execute(sa.text("SELECT id, credits_remaining FROM keys ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [("key_free", None), ("key_gone", 0), ("key_new", 7), ("key_old", 7)]
        await migrate(db)  # and up again
    finally:
        await db.dispose()


async def test_0017_gives_existing_users_an_empty_unverified_profile_and_goes_down_again(empty_database_url):
    db = Database(empty_database_url)
    try:
        async with db.transaction() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0016"))
        at = datetime(2026, 1, 1, tzinfo=UTC)
        async with db.transaction() as conn:
            await conn.execute(sa.text(
                "INSERT INTO users (id, username, username_key, password_hash, disabled, created_at, "
                "updated_at) VALUES ('usr_a', 'Ada', 'ada', '$argon2id$x', false, :at, :at)"), {"at": at})
        await migrate(db)
        async with db.engine.connect() as conn:
            row = (await conn.execute(sa.select(users.c.name, users.c.email, users.c.email_verified))).one()
        assert tuple(row) == (None, None, False)
        async with db.transaction() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0016"))
        async with db.engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT username FROM users"))).scalar_one() == "Ada"
        await migrate(db)  # and up again
    finally:
        await db.dispose()
