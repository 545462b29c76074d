"""Usage queries: counts by hour or day and outcome, a key's events, recent activity."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Literal

from keyplane.clock import Clock
from keyplane.errors import Invalid
from keyplane.pagination import Page, page_of
from keyplane.usage.events import Activity, StoredUsageEvent, UsageBucket
from keyplane.usage.repository import UsageRepository

Granularity = Literal["hour", "day"]
MAX_BUCKETS = 2_000
DEFAULT_SPAN = {"hour": timedelta(hours=24), "day": timedelta(days=30)}
STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


def _floor(when: datetime, granularity: Granularity) -> datetime:
    when = when.replace(minute=0, second=0, microsecond=0)
    return when.replace(hour=0) if granularity == "day" else when


class UsageQueries:
    def __init__(self, repository: UsageRepository, clock: Clock) -> None:
        self._repository = repository
        self._clock = clock

    async def series(
        self, *, key_id: str | None = None, api_id: str | None = None,
        owner_id: str | None = None, since: datetime | None, until: datetime | None,
        granularity: Granularity,
    ) -> list[UsageBucket]:
        """Every hour or day in [since, until) with its counts by outcome (empty ones too).

        Defaults: until now; since 24 hours (hour) or 30 days (day) before until.
        Raises Invalid when the range is reversed or has more than MAX_BUCKETS buckets.
        """
        step = STEP[granularity]
        # By default the span ends with the bucket now falls in, so it is included.
        until = until or _floor(self._clock.now(), granularity) + step
        since = since or until - DEFAULT_SPAN[granularity]
        if since >= until:
            raise Invalid.field("since", "must be before until", status=400)
        first = _floor(since, granularity)
        if (until - first) / step > MAX_BUCKETS:
            raise Invalid.field("since", f"the range spans more than {MAX_BUCKETS} {granularity}s; "
                                "narrow it or use granularity=day", status=400)
        counts: dict[datetime, dict[str, int]] = defaultdict(dict)
        for hour, code, count in await self._repository.hourly(
                key_id=key_id, api_id=api_id, owner_id=owner_id, since=first, until=until,
                by_day=granularity == "day"):
            bucket = counts[_floor(hour, granularity)]
            bucket[code] = bucket.get(code, 0) + count
        buckets = []
        start = first
        while start < until:
            buckets.append(UsageBucket(start=start, counts=dict(counts.get(start, {}))))
            start += step
        return buckets

    async def top_keys(self, *, since: datetime, limit: int = 10) -> list[tuple[str, int, int]]:
        """(key_id, verifications, VALID ones) of the keys verified most since `since`."""
        return await self._repository.top_keys(since=since, limit=limit)

    async def events(self, key_id: str, *, since: datetime | None, after: str | None,
                     limit: int) -> Page[StoredUsageEvent]:
        """A key's verifications, newest first."""
        rows = await self._repository.events(key_id, since=since, before=after, limit=limit + 1)
        return page_of(rows, limit, lambda e: e.id)

    async def activity(self, key_id: str, *, since: datetime | None, events: int = 50) -> Activity:
        """What a key did recently (7 days unless `since`), for an exposure report."""
        since = since or self._clock.now() - timedelta(days=7)
        return await self._repository.activity(key_id, since=since, events=events)
