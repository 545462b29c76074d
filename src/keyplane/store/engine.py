"""The database: an async SQLAlchemy engine configured for SQLite or PostgreSQL.

SQLite runs in WAL mode (readers never wait for the writer) and every write transaction
(`Database.transaction()`) starts with `BEGIN IMMEDIATE`, so two writers queue on the busy
timeout instead of failing when one upgrades a read lock; reads begin deferred. PostgreSQL runs through asyncpg.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from keyplane.errors import Invalid

SQLITE_BUSY_TIMEOUT_MS = 10_000
CONNECT_TIMEOUT_SECONDS = 5.0
_IMMEDIATE = "keyplane_sqlite_immediate"
_WAL_ATTEMPTS = 100


def async_url(url: str) -> sa.URL:
    """Map a plain SQLAlchemy URL to its async driver; refuses unsupported databases."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise Invalid.field("KEYPLANE_DATABASE_URL", "not a database URL", status=400) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+asyncpg")
    raise Invalid.field("KEYPLANE_DATABASE_URL", "only sqlite:// and postgresql:// are supported", status=400)


def sqlite_pragmas(dbapi_connection: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # WAL is a property of the file, set once (later it is a no-op). Switching needs an
    # exclusive lock, and SQLite answers "locked" at once, busy timeout or not, while another
    # connection opening the same new file holds one: try again for a few seconds.
    for attempt in range(_WAL_ATTEMPTS):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError:
            if attempt == _WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.05)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_PARAMETERS_MAX = 32_000  # SQLite's limit since 3.32 is 32,766 (999 before: see execute_rows)


@functools.lru_cache(maxsize=32)  # full chunks repeat; the text of a 4,000-row one is 72 kB
def _rows_statement(template: str, width: int, rows: int) -> str:
    one = "(" + ",".join("?" * width) + ")"
    return template.format(rows=",".join([one] * rows))


def execute_rows(conn: sqlite3.Connection, template: str, rows: Sequence[Sequence[Any]]) -> None:
    """`template` (with `{rows}` where its VALUES go) over all `rows` in as few statements
    as SQLite's parameter limit allows, for the batch writers' raw flushes.

    Many rows a statement, not executemany: sqlite3 lets go of the GIL around each step and
    needs it back after, a handover with the busy event loop for every row (verify's p99 was
    39–61 ms during usage flushes; 5–14 ms with this, measured 2026-11-24). A flush is a handful
    of statements, each the single-row one repeated: rows applied in order, as before.
    """
    if not rows:
        return
    width = len(rows[0])
    limit = min(_PARAMETERS_MAX, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    chunk = max(1, limit // width)
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        conn.execute(_rows_statement(template, width, len(part)), [v for row in part for v in row])


def sqlite_time(when: datetime) -> str:
    """A time as SQLAlchemy stores it on SQLite (naive UTC text), for the raw path."""
    if when.tzinfo is UTC:  # the usual case: the text without its "+00:00"
        return when.isoformat(" ", "microseconds")[:26]
    if when.utcoffset():
        when = when.astimezone(UTC)
    return when.replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_time_or_none(when: datetime | None) -> str | None:
    """`sqlite_time`, None staying None (SQL NULL)."""
    return None if when is None else sqlite_time(when)


def private_sqlite_file(path: Path) -> None:
    """Make `path` a SQLite file only its owner can read: it holds key hashes, argon2
    password hashes and the audit log. A missing directory is created 0700; the file is
    created (or narrowed) to 0600 before SQLite opens it, and SQLite gives its `-wal` and
    `-shm` files the database file's mode; ones left from before are narrowed too."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for sibling in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if sibling.stat().st_mode & 0o077:
                sibling.chmod(0o600)
        except FileNotFoundError:
            pass


class Database:
    """Owns the engine; hands out transactions and, on SQLite, the raw hot-path connections."""

    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            self.sqlite_path = self.url.database or ""
            if self.sqlite_path and self.sqlite_path != ":memory:":
                private_sqlite_file(Path(self.sqlite_path))
        else:
            # No pre-ping: with asyncpg it costs three round trips on every checkout (BEGIN,
            # a ping, ROLLBACK), more than the lookup it guards. A connection that died (a
            # database restart) is invalidated on its first error; the hot path retries once
            # (store/keys.py `by_hash`), and recycling bounds how old a connection gets.
            kwargs.update(pool_size=10, max_overflow=10, pool_recycle=1800,
                          async_creator=self._pg_connect)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            self._configure_sqlite()
        self._hot: sqlite3.Connection | None = None
        self._version: int | None = None  # sqlite_data_version's memo for this loop turn
        self._batch_writers: dict[str, sqlite3.Connection] = {}

    async def _pg_connect(self) -> Any:
        """A new asyncpg connection for the pool; failing to connect is an OperationalError.

        asyncpg raises plain OSError (connection refused, no route) and its own errors
        ("the database system is starting up") when a connection cannot be made, and
        SQLAlchemy passes those on unwrapped: a request arriving while the database is down
        or restarting would be a 500 instead of the 503 it is (found by tests/scale: a
        PostgreSQL restart under load). The timeout bounds how long a request waits for a
        database that does not answer at all (asyncpg's default is 60 s).
        """
        import asyncpg

        try:
            return await asyncpg.connect(self.dsn, timeout=CONNECT_TIMEOUT_SECONDS)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if isinstance(exc, asyncpg.PostgresError) and not isinstance(
                    exc, (asyncpg.CannotConnectNowError, asyncpg.OperatorInterventionError,
                          asyncpg.TooManyConnectionsError)):
                raise  # a wrong password or database: configuration, said as it is
            raise sa.exc.OperationalError("connect", None, exc) from exc

    @property
    def dsn(self) -> str:
        """The PostgreSQL URL as asyncpg takes it, for a connection of its own (LISTEN)."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def _configure_sqlite(self) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            sqlite_pragmas(dbapi_connection)

        @event.listens_for(sync_engine, "begin")
        def _on_begin(connection: Any) -> None:
            # Writers take the write lock up front; readers stay deferred and never wait.
            immediate = connection.get_execution_options().get(_IMMEDIATE, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction, committed on success, rolled back on error."""
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                await conn.execution_options(**{_IMMEDIATE: True})
            async with conn.begin():
                yield conn

    def sqlite_reader(self) -> sqlite3.Connection:
        """The hot path's sqlite3 connection, used on the event loop (SQLite only).

        A point lookup on the primary index takes ~10 µs: cheaper than a hop to a driver
        thread. WAL keeps it from waiting for writers. The credit spends use this same
        connection (`sqlite_nowait`): SQLite keeps a connection's page cache across its own
        commits but drops it on another connection's, and `PRAGMA data_version` (the key
        lookup cache's clock) moves only on other connections' commits, so spends on a
        second connection made every lookup after them a cold one (measured 2026-11-24).
        """
        if self._hot is None:
            conn = sqlite3.connect(self.sqlite_path, check_same_thread=False, isolation_level=None)
            sqlite_pragmas(conn)
            # Its commits (credit spends) never checkpoint the WAL: a checkpoint copies pages
            # back into the database and syncs it, milliseconds of blocking the event loop.
            # The other connections' commits do it in their threads (the usage and audit
            # flushes commit every second, the pooled connections on management writes).
            conn.execute("PRAGMA wal_autocheckpoint=0")
            self._hot = conn
        return self._hot

    def sqlite_data_version(self) -> int:
        """`PRAGMA data_version` of the hot connection: it moves whenever another connection
        commits (that connection's own commits do not move it). Read at most once per turn
        of the event loop: the pragma costs ~4 µs (a read lock on the WAL index, system
        calls) and a request may ask twice (its root key, then the key it verifies).

        As exact as reading it every time: a request served in this turn arrived before the
        turn began (the loop polls for I/O, then runs the turn's callbacks), so a commit it
        could know of came before the first read of the turn. A commit awaited by this
        process finishes in a later turn, after the memo is forgotten (`call_soon` runs
        first in the next turn).
        """
        version = self._version
        if version is None:
            (version,) = self.sqlite_reader().execute("PRAGMA data_version").fetchone()
            try:
                asyncio.get_running_loop().call_soon(self._forget_version)
            except RuntimeError:  # no running loop: nothing would forget it
                return int(version)
            self._version = version
        return int(version)

    def _forget_version(self) -> None:
        self._version = None

    @contextmanager
    def sqlite_nowait(self) -> Iterator[sqlite3.Connection]:
        """The hot connection with a busy timeout of zero, for writes on the event loop: a
        write that would wait for another writer's lock fails at once with
        `sqlite3.OperationalError` (SQLITE_BUSY) and the caller waits without blocking the
        loop. The timeout is back to normal afterwards, for the lookups."""
        conn = self.sqlite_reader()
        conn.execute("PRAGMA busy_timeout=0")
        try:
            yield conn
        finally:
            conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

    def sqlite_batch_writer(self, name: str = "usage") -> sqlite3.Connection:
        """A sqlite3 connection for batch writes run in a worker thread (SQLite only), one
        batch at a time; it waits for the write lock like any writer. Each writer `name`s
        its own (the usage and the audit flushes run at the same time)."""
        conn = self._batch_writers.get(name)
        if conn is None:
            conn = sqlite3.connect(self.sqlite_path, check_same_thread=False, isolation_level=None)
            sqlite_pragmas(conn)
            self._batch_writers[name] = conn
        return conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        for conn in (self._hot, *self._batch_writers.values()):
            if conn is not None:
                conn.close()
        self._hot = None
        self._batch_writers.clear()
        self._version = None
        await self.engine.dispose()
