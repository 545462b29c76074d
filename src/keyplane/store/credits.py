"""CreditLedger in SQL: the refill and the spend in one conditional UPDATE.

`UPDATE ... WHERE balance >= cost RETURNING balance` is atomic on both databases: however
many verifications race, the balance never goes below zero and no spend is lost.
On SQLite the statement runs on a raw connection on the event loop (~15 µs in WAL mode)
that never waits for the write lock. While another writer holds it (the usage flush, a
management write, another worker), one spend at a time polls for it with short sleeps
(the others queue behind that one, not polling), and only after `_WAIT_SECONDS` falls back
to the pooled async path: so the loop never blocks, and a lock held for a few ms does not
turn every concurrent spend into a pooled transaction waiting in SQLite's busy handler (a
convoy that cut metered verifications to an eighth, bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

import sqlalchemy as sa

from keyplane.keys.credits import refill_boundary
from keyplane.keys.model import StoredKey
from keyplane.store.engine import Database
from keyplane.store.tables import keys

_due = sa.and_(
    sa.bindparam("boundary", type_=keys.c.credits_refilled_at.type).is_not(None),
    sa.or_(keys.c.credits_refilled_at.is_(None),
           keys.c.credits_refilled_at < sa.bindparam("boundary")),
)
_balance = sa.case((_due, sa.bindparam("amount", type_=sa.BigInteger)), else_=keys.c.credits_remaining)
_SPEND = (
    keys.update()
    .where(keys.c.id == sa.bindparam("key_id"), keys.c.credits_remaining.is_not(None),
           _balance >= sa.bindparam("cost"))
    .values(credits_remaining=_balance - sa.bindparam("cost"),
            credits_refilled_at=sa.case((_due, sa.bindparam("boundary")),
                                        else_=keys.c.credits_refilled_at))
    .returning(keys.c.credits_remaining)
)

# The same statement for the raw sqlite3 connection, times as SQLAlchemy stores them.
_SQLITE_SPEND = """
UPDATE keys SET
  credits_remaining = (CASE WHEN :boundary IS NOT NULL AND (credits_refilled_at IS NULL OR credits_refilled_at < :boundary)
                       THEN :amount ELSE credits_remaining END) - :cost,
  credits_refilled_at = CASE WHEN :boundary IS NOT NULL AND (credits_refilled_at IS NULL OR credits_refilled_at < :boundary)
                        THEN :boundary ELSE credits_refilled_at END
WHERE id = :key_id AND credits_remaining IS NOT NULL
  AND (CASE WHEN :boundary IS NOT NULL AND (credits_refilled_at IS NULL OR credits_refilled_at < :boundary)
       THEN :amount ELSE credits_remaining END) >= :cost
RETURNING credits_remaining
"""
# The same without a refill (no boundary: both CASEs take their ELSE), ~1.5 µs cheaper.
_SQLITE_SPEND_NO_REFILL = """
UPDATE keys SET credits_remaining = credits_remaining - :cost
WHERE id = :key_id AND credits_remaining IS NOT NULL AND credits_remaining >= :cost
RETURNING credits_remaining
"""


# Sleeps between attempts while the write lock is taken (a flush holds it for a few ms).
_WAIT_SECONDS = 0.05
_POLL_SECONDS = (0.0001, 0.0002, 0.0005, 0.001, 0.002)


def _sqlite_time(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class SqlCreditLedger:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock_waiter = asyncio.Lock()  # one spend at a time polls for SQLite's write lock

    async def spend(self, key: StoredKey, cost: int, now: datetime) -> tuple[bool, int]:
        credits = key.config.credits
        assert credits is not None
        refill = credits.refill
        boundary = refill_boundary(refill, created_at=key.created_at, now=now)
        params = {"key_id": key.id, "cost": cost, "boundary": boundary,
                  "amount": refill.amount if refill else None}
        if self._db.is_sqlite:
            if boundary is None:
                statement, sqlite_params = _SQLITE_SPEND_NO_REFILL, {"key_id": key.id, "cost": cost}
            else:
                statement, sqlite_params = _SQLITE_SPEND, {**params, "boundary": _sqlite_time(boundary)}
            rows = self._try_sqlite(statement, sqlite_params)
            if rows is None:  # the write lock is taken
                rows = await self._sqlite_when_free(statement, sqlite_params)
            if rows is not None:
                if rows:
                    return True, int(rows[0][0])
                return False, await self._balance(key.id)
            # still taken after _WAIT_SECONDS: wait for it off the event loop instead
        async with self._db.transaction() as conn:
            value = (await conn.execute(_SPEND, params)).scalar()
        if value is not None:
            return True, int(value)
        return False, await self._balance(key.id)

    def _try_sqlite(self, statement: str, params: dict[str, object]) -> list[tuple[int]] | None:
        """The spend on the raw connection; None when another writer holds the lock."""
        try:
            # fetchall: the statement (and its write transaction) ends only when drained
            return self._db.sqlite_writer().execute(statement, params).fetchall()
        except sqlite3.OperationalError:
            return None

    async def _sqlite_when_free(self, statement: str,
                                params: dict[str, object]) -> list[tuple[int]] | None:
        """Retry on the event loop while the lock is taken, up to _WAIT_SECONDS from now
        (queueing counts: behind a lock held longer, the queue drains to the pooled path)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _WAIT_SECONDS
        async with self._lock_waiter:
            attempt = 0
            while True:
                rows = self._try_sqlite(statement, params)  # at once: the previous waiter may be done
                if rows is not None or loop.time() >= deadline:
                    return rows
                await asyncio.sleep(_POLL_SECONDS[min(attempt, len(_POLL_SECONDS) - 1)])
                attempt += 1

    async def _balance(self, key_id: str) -> int:
        """The balance after a refused spend (the refusal path only)."""
        async with self._db.engine.connect() as conn:
            value = (await conn.execute(
                sa.select(keys.c.credits_remaining).where(keys.c.id == key_id))).scalar()
        return int(value or 0)
