"""A migrated store on SQLite and on PostgreSQL (a fresh one for every test)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from store_harness import Store, empty_tables

from keyplane.store.engine import Database
from keyplane.store.migrate import migrate


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'keyplane.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await migrate(database)
    if not database.is_sqlite:
        await empty_tables(database)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def store(db: Database) -> Store:
    return Store.over(db)


async def _pg_execute(url: str, statement: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
async def empty_database_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no schema at all, for tests of the first migration."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"keyplane_empty_{secrets.token_hex(4)}"
    await _pg_execute(database_url, f'CREATE DATABASE "{name}"')
    try:
        yield f"{database_url.rsplit('/', 1)[0]}/{name}"
    finally:
        await _pg_execute(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
