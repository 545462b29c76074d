"""LeakRepository in SQLAlchemy Core: the reports already acted on, and a client by the
hash of a leaked secret."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from keyplane.leaks.repository import StoredReport
from keyplane.store.engine import Database
from keyplane.store.tables import clients, leak_reports


class SqlLeakRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, token_hash: str) -> StoredReport | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(leak_reports).where(leak_reports.c.token_hash == token_hash))).first()
        if row is None:
            return None
        return StoredReport(token_hash=row.token_hash, token_type=row.token_type, label=row.label,
                            key_id=row.key_id)

    async def remember(self, report: StoredReport, *, url: str | None, at: datetime) -> None:
        insert = (sqlite.insert if self._db.is_sqlite else postgresql.insert)(leak_reports)
        async with self._db.transaction() as conn:
            await conn.execute(insert.values(
                token_hash=report.token_hash, token_type=report.token_type, label=report.label,
                key_id=report.key_id, url=url, reported_at=at).on_conflict_do_nothing())

    async def client_by_secret_hash(self, secret_hash: bytes, now: datetime) -> str | None:
        """The client whose current secret, or previous one still in its grace, this is."""
        c = clients.c
        query = sa.select(c.id).where(sa.or_(
            c.secret_hash == secret_hash,
            sa.and_(c.previous_secret_hash == secret_hash, c.previous_secret_expires_at > now)))
        async with self._db.engine.connect() as conn:
            return (await conn.execute(query.limit(1))).scalar_one_or_none()
