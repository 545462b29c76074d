"""SessionRepository in SQLAlchemy Core: browser sessions, by the hash of their id."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from keyplane.store.engine import Database
from keyplane.store.tables import as_utc, browser_sessions
from keyplane.users.sessions import BrowserSession


class SqlSessionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, id_hash: bytes, session: BrowserSession, ip: str | None) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(browser_sessions.insert().values(
                id_hash=id_hash, user_id=session.user_id, created_at=session.created_at,
                last_seen_at=session.last_seen_at, expires_at=session.expires_at,
                ip=(ip or "")[:64] or None))

    async def get(self, id_hash: bytes) -> BrowserSession | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(browser_sessions)
                                      .where(browser_sessions.c.id_hash == id_hash))).first()
        if row is None:
            return None
        created_at, last_seen_at = as_utc(row.created_at), as_utc(row.last_seen_at)
        expires_at = as_utc(row.expires_at)
        assert created_at is not None and last_seen_at is not None and expires_at is not None
        return BrowserSession(user_id=row.user_id, created_at=created_at,
                              last_seen_at=last_seen_at, expires_at=expires_at)

    async def touch(self, id_hash: bytes, at: datetime) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(browser_sessions.update()
                               .where(browser_sessions.c.id_hash == id_hash)
                               .values(last_seen_at=at))

    async def delete(self, id_hash: bytes) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(browser_sessions.delete().where(browser_sessions.c.id_hash == id_hash))

    async def prune(self, *, now: datetime, idle_before: datetime) -> int:
        async with self._db.transaction() as conn:
            result = await conn.execute(browser_sessions.delete().where(sa.or_(
                browser_sessions.c.expires_at <= now, browser_sessions.c.last_seen_at <= idle_before)))
        return int(result.rowcount)
