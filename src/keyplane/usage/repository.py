"""What usage recording and its queries need from storage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from keyplane.usage.events import Activity, StoredUsageEvent, UsageEvent


class UsageRepository(Protocol):
    async def write(self, events: Sequence[UsageEvent]) -> None:
        """Store a batch: the events, their hourly counts and each key's `last_used_at`,
        in one transaction."""
        ...

    async def hourly(
        self, *, key_id: str | None, api_id: str | None, owner_id: str | None,
        since: datetime, until: datetime, by_day: bool = False,
    ) -> list[tuple[datetime, str, int]]:
        """(hour, code, count) rows in [since, until), summed over the matching keys; with
        `by_day`, summed by UTC day (the first element is then the day's midnight)."""
        ...

    async def top_keys(self, *, since: datetime, limit: int) -> list[tuple[str, int, int]]:
        """(key_id, verifications, of which VALID) of the keys verified most since `since`,
        most first (verifications of no known key left out)."""
        ...

    async def events(
        self, key_id: str, *, since: datetime | None, before: str | None, limit: int
    ) -> list[StoredUsageEvent]:
        """A key's events, newest first."""
        ...

    async def activity(self, key_id: str, *, since: datetime, events: int) -> Activity: ...

    async def prune(self, before: datetime) -> int:
        """Delete events and hourly counts older than `before`; returns events deleted."""
        ...
