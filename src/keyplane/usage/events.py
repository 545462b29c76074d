"""A verification as the usage log records it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class UsageEvent:
    time: datetime
    key_id: str | None  # None when no key was found (MALFORMED, NOT_FOUND)
    api_id: str | None
    owner_id: str | None
    code: str
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class StoredUsageEvent:
    id: str
    time: datetime
    code: str
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class UsageBucket:
    """Counts by outcome for one hour or day starting at `start`."""

    start: datetime
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class AddressActivity:
    ip: str | None
    first_seen: datetime
    last_seen: datetime
    count: int


@dataclass(frozen=True, slots=True)
class Activity:
    """A key's recent activity, for the exposure report."""

    since: datetime
    counts: dict[str, int]
    addresses: list[AddressActivity]
    events: list[StoredUsageEvent]
