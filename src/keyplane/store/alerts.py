"""AlertRepository in SQLAlchemy Core: open-or-bump upserts against the partial unique
index of active alerts, the `alert.<type>` outbox event in the same transaction, and the
reads the periodic sweep needs (keys past their API's rotation policy, keys about to
expire, keys far above their hourly baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from keyplane.alerts.model import OPEN, SEVERITY, Alert, Signal
from keyplane.audit.events import AuditEvent
from keyplane.errors import Conflict
from keyplane.ids import new_id
from keyplane.keys.model import ADMIN_API_ID
from keyplane.store import audit
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database
from keyplane.store.outbox import enqueue
from keyplane.store.tables import alerts, apis, as_utc, keys, usage_hourly
from keyplane.webhooks.events import alert_opened

ACTIVE = sa.text("state != 'resolved'")


def _alert(row: Any) -> Alert:
    return Alert(id=row.id, type=row.type, severity=row.severity, state=row.state,
                 subject_kind=row.subject_kind, subject_id=row.subject_id, api_id=row.api_id,
                 first_seen=as_utc(row.first_seen), last_seen=as_utc(row.last_seen),  # type: ignore[arg-type]
                 count=int(row.count), details=loads(row.details))


async def raise_signals(conn: AsyncConnection, signals: Sequence[Signal], now: datetime,
                        *, is_sqlite: bool) -> list[Alert]:
    """Open an alert for each signal, or bump the active one of its type and subject, on
    `conn` in the caller's transaction; an alert that opens gets its `alert.<type>` outbox
    event in the same transaction. Returns the alerts opened."""
    insert = (sqlite.insert if is_sqlite else postgresql.insert)(alerts)
    excluded = insert.excluded
    c = alerts.c
    opened: list[Alert] = []
    # In one order, so concurrent writers lock index entries in one order (no deadlocks).
    for signal in sorted(signals, key=lambda s: s.subject):
        alert_id = new_id("alr", signal.at)
        later = sa.case((excluded.last_seen > c.last_seen, excluded.last_seen), else_=c.last_seen)
        changes: dict[str, Any] = {"last_seen": later, "updated_at": excluded.updated_at}
        if signal.repeats:
            changes["count"] = c.count + excluded.count
        else:
            changes["details"] = excluded.details
        statement = insert.values(
            id=alert_id, type=signal.type, severity=SEVERITY[signal.type], state=OPEN,
            subject_kind=signal.subject_kind, subject_id=signal.subject_id, api_id=signal.api_id,
            first_seen=signal.at, last_seen=signal.at, count=signal.count,
            details=dumps(signal.details), updated_at=now,
        ).on_conflict_do_update(index_elements=[c.type, c.subject_kind, c.subject_id],
                                index_where=ACTIVE, set_=changes).returning(alerts)
        row = (await conn.execute(statement)).one()
        if row.id == alert_id:
            alert = _alert(row)
            opened.append(alert)
            await enqueue(conn, [alert_opened(alert, now)])
    return opened


class SqlAlertRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def raise_many(self, signals: Sequence[Signal], now: datetime) -> list[Alert]:
        async with self._db.transaction() as conn:
            return await raise_signals(conn, signals, now, is_sqlite=self._db.is_sqlite)

    async def page(self, *, type: str | None, state: str | None, since: datetime | None,
                   before: str | None, limit: int) -> list[Alert]:
        c = alerts.c
        query = sa.select(alerts).order_by(c.id.desc()).limit(limit)
        if type is not None:
            query = query.where(c.type == type)
        if state is not None:
            query = query.where(c.state == state)
        if since is not None:
            query = query.where(c.last_seen >= since)
        if before is not None:
            query = query.where(c.id < before)
        async with self._db.engine.connect() as conn:
            return [_alert(r) for r in (await conn.execute(query)).all()]

    async def get(self, alert_id: str) -> Alert | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(alerts).where(alerts.c.id == alert_id))).first()
        return None if row is None else _alert(row)

    async def set_state(self, alert_id: str, state: str, now: datetime, event: AuditEvent) -> Alert | None:
        """None when there is no such alert; Conflict when reopening a resolved alert whose
        type and subject has another one active."""
        try:
            async with self._db.transaction() as conn:
                row = (await conn.execute(
                    alerts.update().where(alerts.c.id == alert_id)
                    .values(state=state, updated_at=now).returning(alerts))).first()
                if row is not None:
                    await audit.record(conn, event)
        except IntegrityError:
            raise Conflict("another alert of this type and subject is active; "
                           "a resolved alert cannot be reopened beside it") from None
        return None if row is None else _alert(row)

    async def totals(self) -> list[tuple[str, int, int]]:
        """(type, alerts opened, occurrences) over every alert ever: monotonic counters."""
        c = alerts.c
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(
                sa.select(c.type, sa.func.count(), sa.func.sum(c.count)).group_by(c.type))).all()
        return [(t, int(n), int(total or 0)) for t, n, total in rows]

    async def rotation_due(self, now: datetime, *, limit: int) -> list[tuple[str, str, datetime, int]]:
        """Live keys older than their API's rotation policy: (key_id, api_id, created_at, days)."""
        k, a = keys.c, apis.c
        async with self._db.engine.connect() as conn:
            policies = (await conn.execute(
                sa.select(a.id, a.rotation_days).where(a.rotation_days.is_not(None)))).all()
            found: list[tuple[str, str, datetime, int]] = []
            for api_id, days in policies:
                rows = (await conn.execute(
                    sa.select(k.id, k.created_at)
                    .where(k.api_id == api_id, k.revoked_at.is_(None),
                           k.created_at < now - timedelta(days=days),
                           sa.or_(k.expires_at.is_(None), k.expires_at > now))
                    .order_by(k.id).limit(limit - len(found)))).all()
                found.extend((key_id, api_id, as_utc(at), days) for key_id, at in rows)  # type: ignore[misc]
                if len(found) >= limit:
                    break
        return found

    async def expiring(self, now: datetime, until: datetime, *, limit: int
                       ) -> list[tuple[str, str, datetime]]:
        """Live keys that expire between now and `until`: (key_id, api_id, expires_at)."""
        k = keys.c
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(
                sa.select(k.id, k.api_id, k.expires_at)
                .where(k.expires_at > now, k.expires_at <= until, k.revoked_at.is_(None),
                       k.api_id != ADMIN_API_ID)
                .order_by(k.expires_at).limit(limit))).all()
        return [(key_id, api_id, as_utc(at)) for key_id, api_id, at in rows]  # type: ignore[misc]

    async def hourly_counts(self, *, since: datetime, until: datetime, key_ids: Sequence[str] | None,
                            floor: int) -> list[tuple[str, str, int]]:
        """Verifications a key between the hours `since` and `until` (excluded), for keys
        with at least `floor` of them: (key_id, api_id, count)."""
        h = usage_hourly.c
        query = (sa.select(h.key_id, h.api_id, sa.func.sum(h.count))
                 .where(h.hour >= since, h.hour < until, h.key_id != "")
                 .group_by(h.key_id, h.api_id).having(sa.func.sum(h.count) >= floor))
        if key_ids is not None:
            query = query.where(h.key_id.in_(list(key_ids)))
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(key_id, api_id, int(n)) for key_id, api_id, n in rows]

