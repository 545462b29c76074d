"""Apply Alembic migrations programmatically, safely from several processes at once."""

from __future__ import annotations

from importlib.resources import files

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from keyplane.store.engine import Database

# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises migrators.
_PG_MIGRATION_LOCK = 0x6B6579706C616E65


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("keyplane.store") / "migrations"))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
    command.upgrade(alembic_config(connection), "head")


async def migrate(db: Database) -> None:
    """Bring the schema to the newest revision (a no-op when it is there already)."""
    async with db.transaction() as conn:
        await conn.run_sync(_upgrade)
