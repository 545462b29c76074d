"""Live fixtures: real `keyplane serve` processes, shared across tests where they can be.

`served` is one server per store (SQLite in a temporary data directory, PostgreSQL in a
database of its own, empty at start), each with KEYPLANE_ROOT_KEY; tests that need a
server of their own (other settings, stopping it) start one with `serving.start`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import httpx
import pytest
from live.serving import Served, start


def new_root_key() -> str:
    return "live-root-" + secrets.token_urlsafe(32)


async def _pg_execute(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def own_pg_url(pg_url: str) -> Iterator[str]:
    """A PostgreSQL database of this test's own, for services that share it (the run's one
    holds keys of another secret)."""
    name = f"{pg_url.rsplit('/', 1)[1]}_{secrets.token_hex(3)}"
    asyncio.run(_pg_execute(pg_url, f'CREATE DATABASE "{name}"'))
    yield f"{pg_url.rsplit('/', 1)[0]}/{name}"
    asyncio.run(_pg_execute(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def empty_pg_url(pg_url: str) -> Iterator[str]:
    """A PostgreSQL database nobody has touched: no tables, no migrations."""
    name = pg_url.rsplit("/", 1)[1] + "_live"
    asyncio.run(_pg_execute(pg_url, f'CREATE DATABASE "{name}"'))
    yield pg_url.rsplit("/", 1)[0] + "/" + name
    asyncio.run(_pg_execute(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    root_key = new_root_key()
    # The access log on (it is off by default): tests read it, and check what never reaches it.
    served = start(tmp_path_factory.mktemp("live-sqlite"), KEYPLANE_ROOT_KEY=root_key,
                   KEYPLANE_ACCESS_LOG="true")
    yield served, root_key
    served.stop()


@pytest.fixture(scope="session")
def postgresql_server(tmp_path_factory: pytest.TempPathFactory,
                      empty_pg_url: str) -> Iterator[tuple[Served, str]]:
    root_key = new_root_key()
    served = start(tmp_path_factory.mktemp("live-pg"), KEYPLANE_ROOT_KEY=root_key,
                   KEYPLANE_DATABASE_URL=empty_pg_url, KEYPLANE_ACCESS_LOG="true")
    yield served, root_key
    served.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest) -> tuple[Served, str]:
    """A running server and its root key, once per store."""
    server: tuple[Served, str] = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture
def admin(served: tuple[Served, str]) -> Iterator[httpx.Client]:
    """An HTTP client on the live server, authenticated with its root key."""
    server, root_key = served
    with httpx.Client(base_url=server.url, timeout=10.0,
                      headers={"Authorization": f"Bearer {root_key}"}) as client:
        yield client
