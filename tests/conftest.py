"""Fixtures: the service on SQLite and on PostgreSQL, driven through its real interfaces.

Every test that takes `http` runs twice, once per store. PostgreSQL is a database created
for this test run (dropped at the end) on 127.0.0.1:5432; tables are emptied between tests.
Without PostgreSQL the PostgreSQL half is skipped locally, and fails in CI (CI=true).
A SQLite test starts from a copy of a database migrated once per test process (the
migrations are ~150 of a start's ~215 ms); the app's own start still runs `migrate`, which
finds nothing to do, and everything else of a first start (the admin API, the root key,
the secret's fingerprint) as on an empty store.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from running_app import running_app

from keyplane.clock import FakeClock
from keyplane.config import Settings, load_settings
from keyplane.store.engine import Database
from keyplane.store.migrate import migrate

PG_ADMIN_URL = os.environ.get("KEYPLANE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("KEYPLANE_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def _pg_admin(statement: str) -> None:
    import asyncpg

    url = PG_ADMIN_URL.replace("postgresql://", "postgres://", 1)
    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test run's own."""
    name = f"keyplane_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError) as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and does not answer: {exc}")
        pytest.skip(f"PostgreSQL is not reachable ({exc})")
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Redis at 127.0.0.1:6379; skipped locally when it does not answer, a failure in CI."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis is required in CI and does not answer: {exc}")
        pytest.skip(f"Redis is not reachable ({exc})")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def root_key() -> str:
    return "test-root-" + secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database with every migration applied and nothing else, to copy."""
    path = tmp_path_factory.mktemp("migrated") / "keyplane.db"

    async def make() -> None:
        db = Database(f"sqlite:///{path}")
        try:
            await migrate(db)
        finally:
            await db.dispose()  # the last connection closed: the WAL is folded into the file

    asyncio.run(make())
    return path


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest, root_key: str) -> Settings:
    database_url = None
    data_dir = tmp_path / "data"
    if backend == "postgresql":
        database_url = request.getfixturevalue("pg_url")
        asyncio.run(_truncate(database_url))
    else:
        data_dir.mkdir(mode=0o700)
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), data_dir / "keyplane.db")
        (data_dir / "keyplane.db").chmod(0o600)
    return load_settings({}, data_dir=data_dir, database_url=database_url,
                         root_key=root_key, secret_key="test-secret-" + "s" * 32)


async def _truncate(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1), timeout=5)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename != 'alembic_version'")
        if tables:
            names = ", ".join(f'"{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} CASCADE")
    finally:
        await conn.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def http(settings: Settings, clock: FakeClock, root_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the ASGI app, authenticated with a root key holding `*`."""
    async with running_app(settings, clock=clock, root_key=root_key) as (client, _):
        yield client


@pytest.fixture
async def api(http: httpx.AsyncClient) -> dict[str, object]:
    response = await http.post("/v1/apis", json={"name": "documents", "key_prefix": "sk_test"})
    assert response.status_code == 201, response.text
    return dict(response.json())
