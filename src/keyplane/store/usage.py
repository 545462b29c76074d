"""UsageRepository in SQLAlchemy Core: raw events plus hourly aggregates."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from keyplane.ids import IdMaker, first_id_at
from keyplane.store.engine import Database, execute_rows, sqlite_time
from keyplane.store.tables import as_utc, keys, usage_events, usage_hourly, usage_totals
from keyplane.usage.events import (
    Activity,
    AddressActivity,
    StoredUsageEvent,
    UsageEvent,
)

PRUNE_CHUNK = 5_000


# Templates for `execute_rows` (many rows a statement: engine.py says why).
_SQLITE_INSERT_EVENTS = ("INSERT INTO usage_events (id, time, key_id, api_id, owner_id, code, ip, "
                         "user_agent) VALUES {rows}")
_SQLITE_UPSERT_HOURS = ("INSERT INTO usage_hourly (key_id, hour, code, api_id, owner_id, count) "
                        "VALUES {rows} ON CONFLICT (key_id, api_id, hour, code) "
                        "DO UPDATE SET count = count + excluded.count")
_SQLITE_UPSERT_TOTALS = ("INSERT INTO usage_totals (hour, code, count) VALUES {rows} "
                         "ON CONFLICT (hour, code) DO UPDATE SET count = count + excluded.count")
_SQLITE_LAST_USED = ("UPDATE keys SET last_used_at = used.column2 FROM (VALUES {rows}) AS used "
                     "WHERE keys.id = used.column1 "
                     "AND (keys.last_used_at IS NULL OR keys.last_used_at < used.column2)")

Row = tuple[str, Any, str | None, str | None, str | None, str, str | None, str | None]
HourKey = tuple[str, datetime, str, str, str]


def _batch(events: Sequence[UsageEvent], ids: IdMaker) -> tuple[list[Row], Counter[HourKey], dict[str, datetime]]:
    """The rows of a batch, its hourly counts and each key's latest use."""
    counts: Counter[HourKey] = Counter()
    last_used: dict[str, datetime] = {}
    rows: list[Row] = []
    for e in events:
        rows.append((ids.new_id("use", e.time), e.time, e.key_id, e.api_id, e.owner_id,
                     e.code, e.ip, e.user_agent))
        counts[(e.key_id or "", hour_of(e.time), e.code, e.api_id or "", e.owner_id or "")] += 1
        if e.key_id is not None and (e.key_id not in last_used or last_used[e.key_id] < e.time):
            last_used[e.key_id] = e.time
    return rows, counts, last_used


def _day_start(day: Any) -> datetime:
    return datetime.fromisoformat(str(day)[:10]).replace(tzinfo=UTC)


def hour_of(when: datetime) -> datetime:
    return when.replace(minute=0, second=0, microsecond=0)


def _stored(row: Any) -> StoredUsageEvent:
    time = as_utc(row.time)
    assert time is not None
    return StoredUsageEvent(id=row.id, time=time, code=row.code, ip=row.ip, user_agent=row.user_agent)


class SqlUsageRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        # The writer thread's own (ids.py), drawing from a PRNG seeded from os.urandom:
        # these ids are not secrets, and `secrets.randbits` is a system call an event.
        self._ids = IdMaker(randbits=random.Random().getrandbits)
        self._insert = (sqlite.insert if db.is_sqlite else postgresql.insert)(usage_hourly)
        totals = postgresql.insert(usage_totals)
        self._upsert_totals = totals.on_conflict_do_update(
            index_elements=["hour", "code"], set_={"count": usage_totals.c.count + totals.excluded.count})

    async def write(self, events: Sequence[UsageEvent]) -> None:
        if not events:
            return
        if self._db.is_sqlite:
            # Raw executemany in a worker thread: sqlite3 runs the statements without the
            # GIL, where SQLAlchemy's per-row parameter processing would hold it (~10× the
            # cost) and slow the event loop that serves verifications.
            await asyncio.to_thread(self._write_sqlite, events)
            return
        rows, counts, last_used = _batch(events, self._ids)
        upsert = self._insert.on_conflict_do_update(
            index_elements=["key_id", "api_id", "hour", "code"],
            set_={"count": usage_hourly.c.count + self._insert.excluded.count},
        )
        async with self._db.transaction() as conn:
            await conn.execute(usage_events.insert(), [
                {"id": r[0], "time": r[1], "key_id": r[2], "api_id": r[3], "owner_id": r[4],
                 "code": r[5], "ip": r[6], "user_agent": r[7]} for r in rows])
            # Sorted, so concurrent writers take row locks in one order (no deadlocks). One
            # executemany (asyncpg pipelines it), not a round trip per key, hour and code: a
            # flush over many keys was ~1,200 rows/s that way (bench/pg_writes.py).
            await conn.execute(upsert, [
                {"key_id": key_id, "hour": hour, "code": code, "api_id": api_id,
                 "owner_id": owner_id, "count": count}
                for (key_id, hour, code, api_id, owner_id), count in sorted(counts.items())])
            totals: Counter[tuple[datetime, str]] = Counter()
            for (_key_id, hour, code, _api_id, _owner_id), count in counts.items():
                totals[(hour, code)] += count
            await conn.execute(self._upsert_totals, [
                {"hour": hour, "code": code, "count": count}
                for (hour, code), count in sorted(totals.items())])
            if last_used:
                await conn.execute(
                    keys.update()
                    .where(keys.c.id == sa.bindparam("kid"),
                           sa.or_(keys.c.last_used_at.is_(None),
                                  keys.c.last_used_at < sa.bindparam("at")))
                    .values(last_used_at=sa.bindparam("at")),
                    [{"kid": k, "at": t} for k, t in sorted(last_used.items())],
                )

    def _write_sqlite(self, events: Sequence[UsageEvent]) -> None:
        # Times as SQLite text (fixed width, so text order is time order), the hour cut from
        # the text: this loop is most of a flush's Python work.
        rows = []
        counts: Counter[tuple[str, str, str, str, str]] = Counter()
        last_used: dict[str, str] = {}
        for e in events:
            event_id = self._ids.new_id("use", e.time)  # ids.py: ~0.8 µs, the head of a millisecond kept
            at = sqlite_time(e.time)
            rows.append((event_id, at, e.key_id, e.api_id, e.owner_id, e.code, e.ip, e.user_agent))
            counts[(e.key_id or "", at[:13] + ":00:00.000000", e.code, e.api_id or "",
                    e.owner_id or "")] += 1
            if e.key_id is not None and last_used.get(e.key_id, "") < at:
                last_used[e.key_id] = at
        hours = [(key_id, hour, code, api_id, owner_id, count)
                 for (key_id, hour, code, api_id, owner_id), count in counts.items()]
        totals: Counter[tuple[str, str]] = Counter()
        for (_, hour, code, _, _), count in counts.items():
            totals[(hour, code)] += count
        conn = self._db.sqlite_batch_writer()
        conn.execute("BEGIN IMMEDIATE")
        try:
            execute_rows(conn, _SQLITE_INSERT_EVENTS, rows)
            execute_rows(conn, _SQLITE_UPSERT_HOURS, hours)
            execute_rows(conn, _SQLITE_UPSERT_TOTALS, [(h, c, n) for (h, c), n in sorted(totals.items())])
            execute_rows(conn, _SQLITE_LAST_USED, list(last_used.items()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def hourly(
        self, *, key_id: str | None, api_id: str | None, owner_id: str | None,
        since: datetime, until: datetime, by_day: bool = False,
    ) -> list[tuple[datetime, str, int]]:
        if key_id is None and api_id is None and owner_id is None:
            # Every key: the totals an hour and outcome, not a row a key (0014).
            t = usage_totals.c
            return await self._summed(usage_totals, t.hour, t.code, t.count, [],
                                      since=since, until=until, by_day=by_day)
        h = usage_hourly.c
        conditions = [column == value for column, value in
                      ((h.key_id, key_id), (h.api_id, api_id), (h.owner_id, owner_id))
                      if value is not None]
        return await self._summed(usage_hourly, h.hour, h.code, h.count, conditions,
                                  since=since, until=until, by_day=by_day)

    async def _summed(self, table: sa.Table, hour: Any, code: Any, count: Any,
                      conditions: list[Any], *, since: datetime, until: datetime,
                      by_day: bool) -> list[tuple[datetime, str, int]]:
        """(hour or day, code, count) in [since, until): summed by day in SQL when asked,
        so a month is ~30 rows an outcome to read, not ~720."""
        bucket = self._day_of(hour) if by_day else hour
        query = (sa.select(bucket, code, sa.func.sum(count)).select_from(table)
                 .where(hour >= hour_of(since), hour < until, *conditions)
                 .group_by(bucket, code).order_by(bucket))
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        if by_day:
            return [(_day_start(day), c, int(n)) for day, c, n in rows]
        return [(as_utc(h), c, int(n)) for h, c, n in rows]  # type: ignore[misc]

    def _day_of(self, hour: Any) -> Any:
        """The UTC day of a stored hour, as text YYYY-MM-DD."""
        if self._db.is_sqlite:
            return sa.func.substr(hour, 1, 10)  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff'
        return sa.func.to_char(sa.func.timezone("UTC", hour), "YYYY-MM-DD")

    async def top_keys(self, *, since: datetime, limit: int) -> list[tuple[str, int, int]]:
        h = usage_hourly.c
        # A day of rows through the index on hour, then grouped: left to itself, SQLite
        # walks the whole primary key (key_id first) to skip a sort of the groups.
        recent = (sa.select(h.key_id, h.code, h.count)
                  .where(h.hour >= hour_of(since), h.key_id != "")
                  .cte("recent").prefix_with("MATERIALIZED"))
        total = sa.func.sum(recent.c.count)
        valid = sa.func.sum(sa.case((recent.c.code == "VALID", recent.c.count), else_=0))
        query = (sa.select(recent.c.key_id, total, valid).group_by(recent.c.key_id)
                 .order_by(total.desc(), recent.c.key_id).limit(limit))
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(key_id, int(n), int(v)) for key_id, n, v in rows]

    async def events(
        self, key_id: str, *, since: datetime | None, before: str | None, limit: int
    ) -> list[StoredUsageEvent]:
        e = usage_events.c
        query = sa.select(usage_events).where(e.key_id == key_id).order_by(e.id.desc()).limit(limit)
        if since is not None:
            query = query.where(e.time >= since)
        if before is not None:
            query = query.where(e.id < before)
        async with self._db.engine.connect() as conn:
            return [_stored(r) for r in (await conn.execute(query)).all()]

    async def activity(self, key_id: str, *, since: datetime, events: int) -> Activity:
        e = usage_events.c
        recent = sa.and_(e.key_id == key_id, e.time >= since)
        async with self._db.engine.connect() as conn:
            counts = (await conn.execute(
                sa.select(e.code, sa.func.count()).where(recent).group_by(e.code))).all()
            addresses = (await conn.execute(
                sa.select(e.ip, sa.func.min(e.time), sa.func.max(e.time), sa.func.count().label("n"))
                .where(recent).group_by(e.ip).order_by(sa.desc("n"), e.ip).limit(100))).all()
            latest = (await conn.execute(
                sa.select(usage_events).where(recent).order_by(e.id.desc()).limit(events))).all()
        return Activity(
            since=since,
            counts={code: int(n) for code, n in counts},
            addresses=[AddressActivity(ip=ip, first_seen=as_utc(first), last_seen=as_utc(last),  # type: ignore[arg-type]
                                       count=int(n)) for ip, first, last, n in addresses],
            events=[_stored(r) for r in latest],
        )

    async def prune(self, before: datetime) -> int:
        deleted = 0
        while True:  # in chunks, so no single transaction holds the write lock for long
            async with self._db.transaction() as conn:
                # Ids begin with their event's millisecond (ids.py): the primary key finds them.
                ids = (sa.select(usage_events.c.id)
                       .where(usage_events.c.id < first_id_at("use", before)).limit(PRUNE_CHUNK))
                result = await conn.execute(usage_events.delete().where(usage_events.c.id.in_(ids)))
            deleted += result.rowcount
            if result.rowcount < PRUNE_CHUNK:
                break
        async with self._db.transaction() as conn:
            await conn.execute(usage_hourly.delete().where(usage_hourly.c.hour < hour_of(before)))
            await conn.execute(usage_totals.delete().where(usage_totals.c.hour < hour_of(before)))
        return deleted
