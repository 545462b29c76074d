"""What the alerts service needs from storage (store/alerts.py implements it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from keyplane.alerts.model import Alert, Signal
from keyplane.audit.events import AuditEvent


class AlertRepository(Protocol):
    async def raise_many(self, signals: Sequence[Signal], now: datetime) -> list[Alert]:
        """Open or bump an alert per signal (with the outbox event of each opened), in one
        transaction; returns the alerts opened."""

    async def page(self, *, type: str | None, state: str | None, since: datetime | None,
                   before: str | None, limit: int) -> list[Alert]: ...

    async def get(self, alert_id: str) -> Alert | None: ...

    async def set_state(self, alert_id: str, state: str, now: datetime, event: AuditEvent) -> Alert | None:
        """Conflict when reopening beside another active alert of its type and subject."""

    async def totals(self) -> list[tuple[str, int, int]]: ...

    async def rotation_due(self, now: datetime, *, limit: int) -> list[tuple[str, str, datetime, int]]: ...

    async def expiring(self, now: datetime, until: datetime, *, limit: int
                       ) -> list[tuple[str, str, datetime]]: ...

    async def hourly_counts(self, *, since: datetime, until: datetime, key_ids: Sequence[str] | None,
                            floor: int) -> list[tuple[str, str, int]]: ...
