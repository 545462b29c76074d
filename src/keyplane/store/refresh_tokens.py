"""RefreshTokenRepository in SQLAlchemy Core: families, their tokens, and revoking both.

Rotation and revocation take the family row first (an UPDATE: a row lock on PostgreSQL;
SQLite's BEGIN IMMEDIATE serialises every writer anyway), so a rotation and a revocation of
one family never interleave: either the revocation sees the successor and its access token,
or the rotation sees the family revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from keyplane.audit.events import AuditEvent
from keyplane.ids import new_id
from keyplane.oauth.model import Authentication
from keyplane.oauth.refresh_tokens import (
    NewFamily,
    NewRefreshToken,
    RefreshGrant,
    Rotation,
)
from keyplane.store import audit
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database, sqlite_time_or_none
from keyplane.store.tables import (
    as_utc,
    opaque_tokens,
    refresh_families,
    refresh_tokens,
    revocations,
)

_GRANT = (
    sa.select(refresh_tokens.c.id, refresh_tokens.c.family_id, refresh_families.c.client_id,
              refresh_families.c.subject, refresh_families.c.scope, refresh_families.c.audience,
              refresh_tokens.c.issued_at, refresh_tokens.c.idle_expires_at,
              refresh_families.c.expires_at, refresh_tokens.c.used_at,
              refresh_families.c.revoked_at, refresh_families.c.dpop_jkt,
              refresh_families.c.auth_time, refresh_families.c.sid)
    .join(refresh_families, refresh_families.c.id == refresh_tokens.c.family_id)
)


# The rotation guard, one statement shape for both drivers: SQLAlchemy runs these on
# PostgreSQL (and on SQLite when the hot connection stays busy), `_rotate_on` runs the
# same statements compiled once for sqlite3's named parameters.
_LOCK_FAMILY = (
    refresh_families.update()
    .where(refresh_families.c.id == sa.bindparam("family_id"), refresh_families.c.revoked_at.is_(None),
           refresh_families.c.expires_at > sa.bindparam("now"))
    .values(rotated_at=sa.bindparam("now")))
"""Take the family (a row lock on PostgreSQL): concurrent rotations queue here, and a
revocation or expiry that came first leaves no row to change."""
_USE = (
    refresh_tokens.update()
    .where(refresh_tokens.c.id == sa.bindparam("token_id"), refresh_tokens.c.used_at.is_(None))
    .values(used_at=sa.bindparam("now")))
"""Exactly one use wins: the others find `used_at` set and change no row."""
# The keys of `_token_values` (sqlite3 refuses a statement missing one of its values).
_TOKEN_COLUMNS = ("id", "token_hash", "family_id", "issued_at", "idle_expires_at", "access_jti",
                  "access_expires_at")
_INSERT_TOKEN = refresh_tokens.insert()

_SQLITE_NAMED = sqlite_dialect(paramstyle="named")
_ON_SQLITE = (str(_LOCK_FAMILY.compile(dialect=_SQLITE_NAMED)), str(_USE.compile(dialect=_SQLITE_NAMED)),
              str(_INSERT_TOKEN.compile(dialect=_SQLITE_NAMED, column_keys=list(_TOKEN_COLUMNS))))


def _rotate_on(conn: sqlite3.Connection, used: RefreshGrant, successor: NewRefreshToken,
               now: datetime) -> Rotation | None:
    """The rotation on SQLite's hot connection, on the event loop: no await between BEGIN
    and COMMIT, so nothing of this process interleaves, and each statement takes
    microseconds instead of a hop to a driver thread. None when another connection holds
    the write lock (the busy timeout is zero here): the caller tries again shortly."""
    try:
        if conn.in_transaction:  # a ROLLBACK that failed left one open
            conn.execute("ROLLBACK")
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return None
        raise
    try:
        lock_family, use, insert_token = _ON_SQLITE
        at = sqlite_time_or_none(now)
        outcome: Rotation = "rotated"
        if conn.execute(lock_family, {"family_id": used.family_id, "now": at}).rowcount != 1:
            outcome = "family_gone"
        elif conn.execute(use, {"token_id": used.token_id, "now": at}).rowcount != 1:
            outcome = "used"
        else:
            conn.execute(insert_token, {name: sqlite_time_or_none(value) if isinstance(value, datetime)
                                        else value for name, value in _token_values(successor).items()})
        conn.execute("COMMIT" if outcome == "rotated" else "ROLLBACK")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    return outcome


_BUSY_POLL_SECONDS = (0.0005, 0.001, 0.002, 0.005)
_BUSY_WAIT_SECONDS = 1.0


class _Lost(Exception):
    def __init__(self, outcome: Rotation) -> None:
        self.outcome = outcome


def _time(value: Any) -> datetime:
    when = as_utc(value)
    assert when is not None
    return when


def _token_values(token: NewRefreshToken) -> dict[str, Any]:
    """A token's row, by the names of `_TOKEN_COLUMNS`."""
    return {"id": token.id, "token_hash": token.token_hash, "family_id": token.family_id,
            "issued_at": token.issued_at, "idle_expires_at": token.idle_expires_at,
            "access_jti": token.access_jti, "access_expires_at": token.access_expires_at}


class SqlRefreshTokenRepository:
    def __init__(self, db: Database, *, on_deny_listed: Callable[[], None] | None = None) -> None:
        self._db = db
        # Told after a revoked family's access tokens joined the deny-list (committed), so
        # this process's introspection sees it at once (SqlTokenRepository.deny_listed).
        self._on_deny_listed = on_deny_listed
        # SQLite: one writer at a time, and a connection that finds the write lock taken
        # sleeps in SQLite's busy handler (backing off up to 100 ms) however soon it frees.
        # The writes of this process queue on an asyncio lock instead, and a rotation that
        # finds another connection writing polls in short sleeps: 1,498 refreshes a second
        # over HTTP, against 330 when a busy rotation fell back to the pooled path (once one
        # did, every rotation behind it did too) and 247 all pooled (2026-11-24).
        self._sqlite_writers = asyncio.Lock() if db.is_sqlite else None
        if db.is_sqlite:
            self._sqlite_grant = str(_GRANT.where(refresh_tokens.c.token_hash == sa.bindparam("h"))
                                     .compile(dialect=db.engine.dialect))

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        if self._sqlite_writers is None:
            async with self._db.transaction() as conn:
                yield conn
            return
        async with self._sqlite_writers, self._db.transaction() as conn:
            yield conn

    async def start_family(self, family: NewFamily, first: NewRefreshToken) -> None:
        async with self._transaction() as conn:
            await conn.execute(refresh_families.insert().values(
                id=family.id, client_id=family.client_id, subject=family.subject,
                scope=" ".join(family.scope), audience=dumps(list(family.audience)),
                created_at=family.created_at, expires_at=family.expires_at,
                dpop_jkt=family.dpop_jkt,
                auth_time=family.authentication.auth_time if family.authentication else None,
                sid=family.authentication.sid if family.authentication else None))
            await conn.execute(_INSERT_TOKEN, _token_values(first))

    async def by_hash(self, token_hash: bytes) -> RefreshGrant | None:
        row: Any
        if self._db.is_sqlite:
            # On the hot connection, as the key and client lookups (~10 µs, no thread hop);
            # drained by fetchall (token_hash is UNIQUE), so no read snapshot lingers.
            rows = self._db.sqlite_reader().execute(self._sqlite_grant, (token_hash,)).fetchall()
            row = rows[0] if rows else None
        else:
            async with self._db.engine.connect() as conn:
                row = (await conn.execute(_GRANT.where(refresh_tokens.c.token_hash == token_hash))).first()
        if row is None:
            return None
        auth_time = as_utc(row[12])
        return RefreshGrant(
            token_id=row[0], family_id=row[1], client_id=row[2], subject=row[3],
            scope=tuple(row[4].split()), audience=tuple(loads(row[5])), issued_at=_time(row[6]),
            idle_expires_at=_time(row[7]), family_expires_at=_time(row[8]), used_at=as_utc(row[9]),
            family_revoked_at=as_utc(row[10]), dpop_jkt=row[11],
            authentication=None if auth_time is None or row[13] is None
            else Authentication(auth_time=auth_time, sid=row[13]))

    async def rotate(self, used: RefreshGrant, successor: NewRefreshToken, now: datetime) -> Rotation:
        if self._sqlite_writers is not None:
            loop = asyncio.get_running_loop()
            async with self._sqlite_writers:
                # Another connection (the audit batch writer, another worker) holds the write
                # lock for a few ms now and then: try again after short sleeps on the loop
                # (the rotations behind this one wait on the asyncio lock), then, if it is
                # held long, let the pooled path wait in SQLite's busy handler.
                deadline = loop.time() + _BUSY_WAIT_SECONDS
                for attempt in itertools.count():
                    with self._db.sqlite_nowait() as conn:
                        outcome = _rotate_on(conn, used, successor, now)
                    if outcome is not None:
                        return outcome
                    if loop.time() >= deadline:
                        break
                    await asyncio.sleep(_BUSY_POLL_SECONDS[min(attempt, len(_BUSY_POLL_SECONDS) - 1)])
        try:
            async with self._transaction() as conn:
                family = await conn.execute(_LOCK_FAMILY, {"family_id": used.family_id, "now": now})
                if family.rowcount != 1:
                    raise _Lost("family_gone")
                consumed = await conn.execute(_USE, {"token_id": used.token_id, "now": now})
                if consumed.rowcount != 1:
                    raise _Lost("used")
                await conn.execute(_INSERT_TOKEN, _token_values(successor))
        except _Lost as lost:
            return lost.outcome
        return "rotated"

    async def used_at(self, token_id: str) -> datetime | None:
        async with self._db.engine.connect() as conn:
            value = (await conn.execute(sa.select(refresh_tokens.c.used_at)
                                        .where(refresh_tokens.c.id == token_id))).scalar()
        return as_utc(value)

    async def revoke_family(self, family_id: str, *, at: datetime, reason: str,
                            event: AuditEvent) -> int | None:
        async with self._transaction() as conn:
            result = await conn.execute(
                refresh_families.update()
                .where(refresh_families.c.id == family_id, refresh_families.c.revoked_at.is_(None))
                .values(revoked_at=at, revoke_reason=reason))
            if result.rowcount != 1:
                return None
            issued = (await conn.execute(
                sa.select(refresh_tokens.c.access_jti, refresh_tokens.c.access_expires_at)
                .where(refresh_tokens.c.family_id == family_id,
                       refresh_tokens.c.access_jti.is_not(None)))).all()
            live = {row[0]: _time(row[1]) for row in issued
                    if row[1] is not None and _time(row[1]) > at}
            revoked = await self._revoke_access_tokens(conn, live, at=at,
                                                       client_id=event.details.get("client_id"))
            await audit.record(conn, event)
        if revoked and self._on_deny_listed is not None:
            self._on_deny_listed()
        return revoked

    async def live_families(self, client_id: str, subject: str, now: datetime) -> list[str]:
        f = refresh_families.c
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(
                sa.select(f.id).where(f.client_id == client_id, f.subject == subject,
                                      f.revoked_at.is_(None), f.expires_at > now)
                .order_by(f.id))).all()
        return [row[0] for row in rows]

    async def _revoke_access_tokens(self, conn: AsyncConnection, live: dict[str, datetime], *,
                                    at: datetime, client_id: str | None) -> int:
        """Opaque access tokens are deleted; the others are JWTs, deny-listed by `jti`."""
        if not live:
            return 0
        opaque = set((await conn.execute(
            sa.select(opaque_tokens.c.jti).where(opaque_tokens.c.jti.in_(list(live))))).scalars())
        if opaque:
            await conn.execute(opaque_tokens.delete().where(opaque_tokens.c.jti.in_(list(opaque))))
        jwts = [jti for jti in live if jti not in opaque]
        if jwts:
            insert = sqlite_insert if self._db.is_sqlite else pg_insert
            await conn.execute(
                insert(revocations).on_conflict_do_nothing(index_elements=[revocations.c.jti]),
                [{"id": new_id("rvk", at), "jti": jti, "client_id": client_id,
                  "expires_at": live[jti], "revoked_at": at} for jti in jwts])
        return len(live)

    async def prune(self, now: datetime) -> int:
        """Forget families past their absolute expiry (their tokens go with them)."""
        async with self._transaction() as conn:
            expired = sa.select(refresh_families.c.id).where(refresh_families.c.expires_at <= now)
            await conn.execute(refresh_tokens.delete().where(refresh_tokens.c.family_id.in_(expired)))
            result = await conn.execute(refresh_families.delete().where(refresh_families.c.expires_at <= now))
        return int(result.rowcount)
