"""The webhook outbox: events stored in the transaction of what caused them, one delivery
row per subscribed webhook, claimed by delivery workers one attempt at a time.

Claims are an UPDATE of rows whose claim has lapsed, choosing them with `FOR UPDATE SKIP
LOCKED` on PostgreSQL (workers never wait for each other's rows) and under SQLite's single
writer lock on SQLite (the UPDATE is atomic): either way, an attempt belongs to one worker.
A worker that dies mid-attempt loses its claim when `claimed_until` passes, and the attempt
is made again (at least once).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keyplane.audit.events import AuditEvent
from keyplane.ids import new_id
from keyplane.store.codec import loads
from keyplane.store.engine import Database, sqlite_time
from keyplane.store.tables import as_utc, webhook_deliveries, webhook_events, webhooks
from keyplane.webhooks.events import OutboundEvent, audit_event, matches
from keyplane.webhooks.model import Attempt, Delivery

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


T = TypeVar("T")


def _plan(subscriptions: Sequence[tuple[str, str]], items: Sequence[T], type_of: Callable[[T], str],
          build: Callable[[T], OutboundEvent]) -> tuple[list[OutboundEvent], list[tuple[str, OutboundEvent]]]:
    """The events someone subscribes to (built only then) and their (webhook, event) pairs."""
    wanted: list[OutboundEvent] = []
    pairs: list[tuple[str, OutboundEvent]] = []
    patterns = [(webhook_id, loads(text)) for webhook_id, text in subscriptions]
    for item in items:
        event_type = type_of(item)
        targets = [w for w, p in patterns if matches(p, event_type)]
        if targets:
            event = build(item)
            wanted.append(event)
            pairs.extend((w, event) for w in targets)
    return wanted, pairs


def _event_type(event: OutboundEvent) -> str:
    return event.type


def _same(event: OutboundEvent) -> OutboundEvent:
    return event


def _action(entry: AuditEvent) -> str:
    return entry.action


async def _insert(conn: AsyncConnection, wanted: Sequence[OutboundEvent],
                  pairs: Sequence[tuple[str, OutboundEvent]]) -> int:
    if not pairs:
        return 0
    await conn.execute(webhook_events.insert(), [
        {"id": e.id, "type": e.type, "created_at": e.at, "body": e.body} for e in wanted])
    await conn.execute(webhook_deliveries.insert(), [
        {"id": new_id("dlv", e.at), "webhook_id": w, "event_id": e.id, "event_type": e.type,
         "state": PENDING, "attempts": 0, "created_at": e.at, "next_attempt_at": e.at}
        for w, e in pairs])
    return len(pairs)


async def enqueue(conn: AsyncConnection, events: Sequence[OutboundEvent], *,
                  only: str | None = None) -> int:
    """Store `events` with a delivery for each webhook subscribed to each (or for webhook
    `only`, whatever it subscribes to), on `conn`, inside the caller's transaction. Returns
    how many deliveries were made; an event nobody subscribes to is not stored."""
    query = sa.select(webhooks.c.id, webhooks.c.events)
    if only is not None:
        query = sa.select(webhooks.c.id, sa.literal('["*"]')).where(webhooks.c.id == only)
    subscriptions = [(r[0], r[1]) for r in (await conn.execute(query)).all()]
    if not subscriptions:
        return 0
    return await _insert(conn, *_plan(subscriptions, events, _event_type, _same))


async def enqueue_audit(conn: AsyncConnection, entries: Sequence[AuditEvent]) -> int:
    """`enqueue` of audit entries, each as the event named by its action; an entry's event is
    built only when a webhook subscribes to it (the token endpoint audits every token)."""
    subscriptions = [(r[0], r[1]) for r in (await conn.execute(
        sa.select(webhooks.c.id, webhooks.c.events))).all()]
    if not subscriptions:
        return 0
    return await _insert(conn, *_plan(subscriptions, entries, _action, audit_event))


def enqueue_audit_sqlite(conn: sqlite3.Connection, entries: Sequence[AuditEvent]) -> int:
    """`enqueue_audit` on a raw sqlite3 connection in a transaction (the audit batch writer's)."""
    subscriptions = conn.execute("SELECT id, events FROM webhooks").fetchall()
    if not subscriptions:
        return 0
    wanted, pairs = _plan(subscriptions, entries, _action, audit_event)
    if not pairs:
        return 0
    conn.executemany("INSERT INTO webhook_events (id, type, created_at, body) VALUES (?, ?, ?, ?)",
                     [(e.id, e.type, sqlite_time(e.at), e.body) for e in wanted])
    conn.executemany(
        "INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, state, attempts, "
        "created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
        [(new_id("dlv", e.at), w, e.id, e.type, PENDING, sqlite_time(e.at), sqlite_time(e.at))
         for w, e in pairs])
    return len(pairs)


def _delivery(row: Any) -> Delivery:
    return Delivery(id=row.id, webhook_id=row.webhook_id, event_id=row.event_id,
                    event_type=row.event_type, state=row.state, attempts=row.attempts,
                    last_status=row.last_status, last_error=row.last_error,
                    next_attempt_at=as_utc(row.next_attempt_at), delivered_at=as_utc(row.delivered_at))


class SqlOutbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue_to(self, webhook_id: str, event: OutboundEvent) -> int:
        async with self._db.transaction() as conn:
            return await enqueue(conn, [event], only=webhook_id)

    async def due_webhooks(self, now: datetime, *, limit: int) -> list[str]:
        """Webhooks with an attempt due and unclaimed."""
        d = webhook_deliveries.c
        query = (sa.select(d.webhook_id).distinct()
                 .where(d.state == PENDING, d.next_attempt_at <= now,
                        sa.or_(d.claimed_until.is_(None), d.claimed_until < now))
                 .limit(limit))
        async with self._db.engine.connect() as conn:
            return [r[0] for r in (await conn.execute(query)).all()]

    async def claim(self, webhook_id: str, now: datetime, *, until: datetime, limit: int) -> list[Attempt]:
        """Claim up to `limit` due attempts of one webhook until `until`."""
        d = webhook_deliveries.c
        due = (sa.select(d.id)
               .where(d.webhook_id == webhook_id, d.state == PENDING, d.next_attempt_at <= now,
                      sa.or_(d.claimed_until.is_(None), d.claimed_until < now))
               .order_by(d.next_attempt_at, d.id).limit(limit))
        if not self._db.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        async with self._db.transaction() as conn:
            claimed = (await conn.execute(
                webhook_deliveries.update().where(d.id.in_(due.scalar_subquery()))
                .values(claimed_until=until).returning(d.id))).scalars().all()
            if not claimed:
                return []
            e = webhook_events.c
            rows = (await conn.execute(
                sa.select(d.id, d.webhook_id, d.event_id, d.event_type, d.attempts, d.created_at, e.body)
                .join(webhook_events, e.id == d.event_id).where(d.id.in_(claimed))
                .order_by(d.next_attempt_at, d.id))).all()
        return [Attempt(id=r.id, webhook_id=r.webhook_id, event_id=r.event_id,
                        event_type=r.event_type, body=r.body, attempts=r.attempts,
                        created_at=as_utc(r.created_at), claimed_until=until)  # type: ignore[arg-type]
                for r in rows]

    async def finish(self, attempt: Attempt, *, state: str, status: int | None, error: str | None,
                     next_attempt_at: datetime | None, at: datetime) -> bool:
        """Record an attempt's outcome, if the claim is still this worker's."""
        d = webhook_deliveries.c
        async with self._db.transaction() as conn:
            result = await conn.execute(
                webhook_deliveries.update()
                .where(d.id == attempt.id, d.claimed_until == attempt.claimed_until, d.state == PENDING)
                .values(state=state, attempts=d.attempts + 1, last_status=status,
                        last_error=error, next_attempt_at=next_attempt_at, claimed_until=None,
                        delivered_at=at if state == DELIVERED else None))
        return bool(result.rowcount)

    async def prune(self, before: datetime) -> int:
        """Forget finished deliveries of events older than `before`, and such events with no
        delivery left; pending ones stay whatever their age."""
        d, e = webhook_deliveries.c, webhook_events.c
        async with self._db.engine.connect() as conn:  # a read first: usually nothing is due
            due = (await conn.execute(sa.select(e.id).where(e.created_at < before).limit(1))).first()
        if due is None:
            return 0
        async with self._db.transaction() as conn:
            result = await conn.execute(webhook_deliveries.delete().where(
                d.state != PENDING, d.created_at < before))
            await conn.execute(webhook_events.delete().where(
                e.created_at < before,
                ~sa.exists(sa.select(d.id).where(d.event_id == e.id))))
        return int(result.rowcount)

    async def page(self, webhook_id: str, *, before: str | None, limit: int) -> list[Delivery]:
        d = webhook_deliveries.c
        query = sa.select(webhook_deliveries).where(d.webhook_id == webhook_id)
        if before is not None:
            query = query.where(d.id < before)
        query = query.order_by(d.id.desc()).limit(limit)
        async with self._db.engine.connect() as conn:
            return [_delivery(r) for r in (await conn.execute(query)).all()]
