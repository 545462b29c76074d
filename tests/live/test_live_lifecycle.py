"""How `keyplane serve` starts and stops: migrations, the first root key, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live.serving import Served, start

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server on an empty data directory, started with no root key."""
    served = start(tmp_path_factory.mktemp("fresh"))
    yield served
    served.stop()


def test_a_fresh_data_dir_without_root_key_logs_how_to_get_one(fresh_server: Served) -> None:
    log = fresh_server.log()
    assert "No root key exists yet" in log
    assert "keyplane bootstrap" in log and "KEYPLANE_ROOT_KEY" in log


def test_migrations_are_applied_at_start_on_an_empty_sqlite_database(fresh_server: Served) -> None:
    database = Path(fresh_server.env["KEYPLANE_DATA_DIR"]) / "keyplane.db"
    with sqlite3.connect(database) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert revision
    assert {"apis", "keys"} <= tables
    assert "from an empty database to revision" in fresh_server.log()


async def _pg_revision(url: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1), timeout=5)
    try:
        revision: str = await conn.fetchval("SELECT version_num FROM alembic_version")
        return revision
    finally:
        await conn.close()


def test_migrations_are_applied_at_start_on_an_empty_postgresql_database(
        postgresql_server: tuple[Served, str]) -> None:
    server, _ = postgresql_server
    assert asyncio.run(_pg_revision(server.env["KEYPLANE_DATABASE_URL"]))
    assert "from an empty database to revision" in server.log()


def test_the_parent_migrates_so_a_restart_has_nothing_to_do(tmp_path: Path) -> None:
    first = start(tmp_path)
    assert first.stop() == 0
    second = start(tmp_path)
    assert second.stop() == 0
    assert "from an empty database" in first.log()
    assert "Migrated" not in second.log()


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_stops_the_service_gracefully_with_status_0(tmp_path: Path, workers: int,
                                                            server: str) -> None:
    served = start(tmp_path, args=("--workers", str(workers), "--server", server))
    assert httpx.get(f"{served.url}/healthz").status_code == 200
    began = time.monotonic()
    assert served.stop(timeout=8) == 0
    assert time.monotonic() - began < 8
    log = served.log()
    assert "keyplane stopped" in log
    assert log.count("keyplane stopped") == workers
    assert "Traceback" not in log


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_sigterm_ends_open_change_streams_and_the_shutdown_still_flushes(
        tmp_path: Path, server: str) -> None:
    """A stream of key changes lasts until its reader goes; the stop must not wait for it
    (granian waits for every open request before the app shuts down)."""
    root_key = "live-root-" + "s" * 40
    served = start(tmp_path, args=("--server", server), KEYPLANE_ROOT_KEY=root_key)
    auth = {"Authorization": f"Bearer {root_key}"}
    api_id = httpx.post(f"{served.url}/v1/apis", json={"name": "streamed"}, headers=auth).json()["id"]
    key = httpx.post(f"{served.url}/v1/keys", json={"api_id": api_id}, headers=auth).json()
    verified = httpx.post(f"{served.url}/v1/keys/verify", json={"key": key["key"]}, headers=auth)
    assert verified.json()["code"] == "VALID"
    with httpx.stream("GET", f"{served.url}/v1/keys/changes", headers=auth, timeout=10) as stream:
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("event:")) == "event: ready"
        began = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        rest = list(lines)  # the server ends the stream
    assert time.monotonic() - began < 4, rest
    assert served.stop(timeout=8) == 0
    assert "keyplane stopped" in served.log() and "Traceback" not in served.log()
    # The shutdown ran: the verification buffered at SIGTERM reached the database.
    with sqlite3.connect(tmp_path / "data" / "keyplane.db") as db:
        assert db.execute("SELECT count(*) FROM usage_events").fetchone()[0] == 1
