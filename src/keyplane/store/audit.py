"""The audit log table: written inside the transaction of the action it records."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keyplane.alerts.detectors import audit_signals
from keyplane.audit.events import AuditEvent
from keyplane.ids import first_id_at
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database, execute_rows, sqlite_time
from keyplane.store import alerts as alert_store  # which records audit entries too
from keyplane.store.outbox import enqueue_audit, enqueue_audit_sqlite
from keyplane.store.tables import as_utc, audit_events


async def record(conn: AsyncConnection, event: AuditEvent) -> None:
    """Insert `event` on `conn`, inside the caller's transaction, with what it causes in the
    same transaction: its webhook event in the outbox, and the alert it opens (a refresh
    token reused; alerts/detectors.py)."""
    await conn.execute(
        audit_events.insert().values(
            id=event.id, time=event.time, actor=event.actor, action=event.action,
            target=event.target, ip=event.ip, details=dumps(event.details),
        )
    )
    await enqueue_audit(conn, [event])
    signals = audit_signals([event])
    if signals:
        await alert_store.raise_signals(conn, signals, event.time, is_sqlite=conn.dialect.name == "sqlite")


MAX_COUNT_BUCKETS = 744  # a month of hours
_SQLITE_INSERT = "INSERT INTO audit_events (id, time, actor, action, target, ip, details) VALUES {rows}"


async def record_many(db: Database, events: Sequence[AuditEvent]) -> None:
    """Insert a batch of events in one transaction (events of the token endpoint, written
    off the request path)."""
    if db.is_sqlite:
        # Raw sqlite3 in a worker thread, many rows a statement, as the usage flush. Through
        # SQLAlchemy a batch of 3,000 token events cost the event loop ~6 µs an event (each
        # row's parameters processed in its greenlet) and ~13 µs of CPU in all, each row's
        # step handing the GIL back and forth; this way ~0 and ~5 µs.
        await asyncio.to_thread(_write_sqlite, db, events)
        return
    async with db.transaction() as conn:
        await conn.execute(audit_events.insert(), [
            {"id": e.id, "time": e.time, "actor": e.actor, "action": e.action,
             "target": e.target, "ip": e.ip, "details": dumps(e.details)} for e in events])
        await enqueue_audit(conn, events)


def _write_sqlite(db: Database, events: Sequence[AuditEvent]) -> None:
    # This runs holding the GIL, against the event loop: each distinct time is formatted
    # once (the token endpoint's events of one second share theirs).
    times: dict[datetime, str] = {}
    rows = []
    for e in events:
        at = times.get(e.time)
        if at is None:
            at = times[e.time] = sqlite_time(e.time)
        rows.append((e.id, at, e.actor, e.action, e.target, e.ip, dumps(e.details)))
    conn = db.sqlite_batch_writer("audit")
    conn.execute("BEGIN IMMEDIATE")
    try:
        execute_rows(conn, _SQLITE_INSERT, rows)
        enqueue_audit_sqlite(conn, events)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _event(row: Any) -> AuditEvent:
    time = as_utc(row.time)
    assert time is not None
    return AuditEvent(id=row.id, time=time, actor=row.actor, action=row.action,
                      target=row.target, ip=row.ip, details=loads(row.details))


class SqlAuditLog:
    """Reads the audit log, newest first."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._count_queries: dict[int, sa.Select[Any]] = {}

    async def page(
        self, *, since: datetime | None, actor: str | None, action: str | None,
        target: str | None, before: str | None, limit: int, until: datetime | None = None,
    ) -> list[AuditEvent]:
        query = sa.select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(audit_events.c.time >= since)
        if until is not None:
            query = query.where(audit_events.c.time < until)
        if actor is not None:
            query = query.where(audit_events.c.actor == actor)
        if action is not None:
            query = query.where(audit_events.c.action == action)
        if target is not None:
            query = query.where(audit_events.c.target == target)
        if before is not None:
            query = query.where(audit_events.c.id < before)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_event(r) for r in rows]

    async def counts(self, action: str, bounds: Sequence[datetime]) -> list[int]:
        """How many events of `action` fell in each [bounds[i], bounds[i+1]) (at most
        MAX_COUNT_BUCKETS): a count over a range of the (action, id) index each, ids
        sorting by time (ids.py), in one statement."""
        n = len(bounds) - 1
        if not 0 < n <= MAX_COUNT_BUCKETS:
            raise ValueError(f"between 1 and {MAX_COUNT_BUCKETS} buckets")
        params: dict[str, str] = {"action": action}
        params.update({f"b{i}": first_id_at("evt", b) for i, b in enumerate(bounds)})
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(self._count_query(n), params)).one()
        return [int(count) for count in row]

    def _count_query(self, n: int) -> sa.Select[Any]:
        # Built once for each number of buckets: a statement is hashed for SQLAlchemy's
        # compiled cache on first use, which for 24 subqueries costs more than running them.
        query = self._count_queries.get(n)
        if query is None:
            c = audit_events.c
            query = self._count_queries[n] = sa.select(*[
                sa.select(sa.func.count()).where(
                    c.action == sa.bindparam("action"), c.id >= sa.bindparam(f"b{i}"),
                    c.id < sa.bindparam(f"b{i + 1}")).scalar_subquery()
                for i in range(n)])
        return query
