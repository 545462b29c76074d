"""CreditLedger in SQL: the refill and the spend in one conditional UPDATE.

`UPDATE ... WHERE balance >= cost RETURNING balance` is atomic on both databases: however
many verifications race, the balance never goes below zero and no spend is lost.
On SQLite the statements run on a raw connection on the event loop, never waiting for the
write lock, and the spends of one turn of the loop share one transaction (group commit):
one commit, one WAL append, one change of the database's data version for the key lookup
cache to see (each change empties it: every spend in its own commit made every lookup a
cold one). Each statement is still the atomic conditional UPDATE, and no verification is
answered before its spend is committed. While another writer holds the lock (the usage
flush, a management write, another worker), the queued spends wait for it together with
short sleeps, then go in one transaction; after `_WAIT_SECONDS` they fall back to the
pooled async path. So the loop never blocks, and a lock held for a few ms does not turn
every concurrent spend into a pooled transaction waiting in SQLite's busy handler (a
convoy that cut metered verifications to an eighth, measured 2026-11-24).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect

from keyplane.keys.model import StoredKey
from keyplane.metering.credits import Taken, balance_of, key_boundary
from keyplane.store.engine import Database, sqlite_time_or_none
from keyplane.store.tables import as_utc, keys

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
    .returning(keys.c.credits_remaining, keys.c.credits_refilled_at)
)
_GIVE_BACK = (
    keys.update()
    .where(keys.c.id == sa.bindparam("key_id"), keys.c.credits_remaining.is_not(None),
           keys.c.credits_refilled_at.is_not_distinct_from(sa.bindparam("generation")))
    .values(credits_remaining=keys.c.credits_remaining + sa.bindparam("amount"))
    .returning(keys.c.credits_remaining)
)

# The same statements for the raw sqlite3 connection (the hot one: no hop to a driver
# thread), compiled once; times are passed as SQLAlchemy stores them (`sqlite_time_or_none`).
_SQLITE_NAMED = sqlite_dialect(paramstyle="named")
_SPEND_ON_SQLITE = str(_SPEND.compile(dialect=_SQLITE_NAMED))
_GIVE_BACK_ON_SQLITE = str(_GIVE_BACK.compile(dialect=_SQLITE_NAMED))


# Sleeps between attempts while the write lock is taken (a flush holds it for a few ms).
_WAIT_SECONDS = 0.05
_POLL_SECONDS = (0.0001, 0.0002, 0.0005, 0.001, 0.002)


# A queued spend: statement, parameters, and the future of its rows.
_Rows = list[tuple[Any, ...]]
_Spend = tuple[str, dict[str, object], "asyncio.Future[_Rows | None]"]


def _deliver(batch: list[_Spend], results: list[_Rows | None]) -> None:
    for (_, _, future), rows in zip(batch, results, strict=True):
        if not future.done():
            future.set_result(rows)


def _run_on(conn: sqlite3.Connection, batch: list[_Spend]) -> list[_Rows | None] | None:
    try:
        if conn.in_transaction:  # a ROLLBACK that failed left one open
            conn.execute("ROLLBACK")
        if len(batch) == 1:  # alone (no concurrency): the statement is its own transaction
            statement, params, future = batch[0]
            return [None if future.done() else conn.execute(statement, params).fetchall()]
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return None
        return [None] * len(batch)  # the pooled path will say what is wrong
    try:
        # fetchall: a statement ends only when drained
        results = [None if future.done() else conn.execute(statement, params).fetchall()
                   for statement, params, future in batch]
        conn.execute("COMMIT")
    except sqlite3.Error:  # nothing of the batch is kept: each spend takes the pooled path
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        return [None] * len(batch)
    return results


class SqlCreditLedger:
    def __init__(self, db: Database, on_balance: Callable[[str, int], None] | None = None) -> None:
        self._db = db
        # Told each balance (by the id of the key keeping it) a statement left, for the key
        # lookup cache: on SQLite the hot connection's own commits do not clear it, on
        # PostgreSQL a spend is not a change it is told of (store/keys.py).
        self._on_balance = on_balance
        # SQLite: spends waiting for the next group commit, and whether one is scheduled.
        self._queue: list[_Spend] = []
        self._committing = False
        self._waiter: asyncio.Task[None] | None = None

    async def spend(self, key: StoredKey, cost: int, now: datetime) -> tuple[bool, int]:
        taken = await self.take(key, cost, now)
        if taken is not None:
            return True, taken.balance
        return False, await self._balance(balance_of(key)[0])

    async def take(self, key: StoredKey, amount: int, now: datetime) -> Taken | None:
        """Spend `amount` (after a due refill): the balance left and the balance's
        generation (`credits_refilled_at`); None, spending nothing, when fewer remain.
        A rolled key spends from the key it was rolled into (`balance_of`)."""
        credits = key.config.credits
        assert credits is not None
        refill = credits.refill
        row_id = balance_of(key)[0]
        boundary = key_boundary(key, now)
        params = {"key_id": row_id, "cost": amount, "boundary": boundary,
                  "amount": refill.amount if refill else None}
        if self._db.is_sqlite:
            rows = await self._queued(_SPEND_ON_SQLITE, {**params, "boundary": sqlite_time_or_none(boundary)})
            if rows is not None:
                if not rows:
                    return None
                return Taken(self._noted(row_id, int(rows[0][0])), as_utc(rows[0][1]))
            # the lock stayed taken, or SQLite failed: wait for it off the event loop instead
        async with self._db.transaction() as conn:
            row = (await conn.execute(_SPEND, params)).first()
        if row is None:
            return None
        self._noted(row_id, int(row[0]))
        return Taken(int(row[0]), as_utc(row[1]))

    def _noted(self, row_id: str, balance: int) -> int:
        if self._on_balance is not None:
            self._on_balance(row_id, balance)
        return balance

    async def give_back(self, key_id: str, amount: int, generation: datetime | None) -> int | None:
        """Add `amount` back to the balance kept by key `key_id`, unless it was set or
        refilled since `generation` (then the balance they came from no longer exists):
        the balance then, or None when nothing went back."""
        if self._db.is_sqlite:
            rows = await self._queued(_GIVE_BACK_ON_SQLITE, {
                "key_id": key_id, "amount": amount, "generation": sqlite_time_or_none(generation)})
            if rows is not None:
                return self._noted(key_id, int(rows[0][0])) if rows else None
        async with self._db.transaction() as conn:
            row = (await conn.execute(_GIVE_BACK, {"key_id": key_id, "amount": amount,
                                                   "generation": generation})).first()
        return None if row is None else self._noted(key_id, int(row[0]))

    def _queued(self, statement: str, params: dict[str, object]) -> asyncio.Future[_Rows | None]:
        """The statement's rows once committed with the others of this turn of the loop;
        None: take the pooled path."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Rows | None] = loop.create_future()
        self._queue.append((statement, params, future))
        if not self._committing:
            self._committing = True
            loop.call_soon(self._commit_queued)  # after the other ready callbacks of this turn
        return future

    def _commit_queued(self) -> None:
        batch, self._queue = self._queue, []
        results = self._run(batch)
        if results is None:  # the write lock is taken: wait for it, gathering later spends too
            self._queue[:0] = batch
            self._waiter = asyncio.get_running_loop().create_task(self._commit_when_free())
            return
        self._committing = False
        _deliver(batch, results)

    async def _commit_when_free(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _WAIT_SECONDS
        attempt = 0
        try:
            while True:
                await asyncio.sleep(_POLL_SECONDS[min(attempt, len(_POLL_SECONDS) - 1)])
                attempt += 1
                batch, self._queue = self._queue, []
                results = self._run(batch)
                if results is None and loop.time() < deadline:
                    self._queue[:0] = batch
                    continue
                _deliver(batch, results if results is not None else [None] * len(batch))
                return
        finally:
            self._committing, self._waiter = False, None
            if self._queue:  # only if this task was cancelled (shutdown): take the pooled path
                _deliver(self._queue, [None] * len(self._queue))
                self._queue = []

    def _run(self, batch: list[_Spend]) -> list[_Rows | None] | None:
        """The batch in one transaction: each spend's rows (None for a spend whose caller is
        gone: not made), all None if SQLite failed; None when another writer holds the lock."""
        try:
            with self._db.sqlite_nowait() as conn:
                return _run_on(conn, batch)
        except sqlite3.Error:  # setting the busy timeout failed: the pooled path will say why
            return [None] * len(batch)

    async def _balance(self, key_id: str) -> int:
        """The balance after a refused spend (the refusal path only)."""
        async with self._db.engine.connect() as conn:
            value = (await conn.execute(
                sa.select(keys.c.credits_remaining).where(keys.c.id == key_id))).scalar()
        return self._noted(key_id, int(value or 0))
