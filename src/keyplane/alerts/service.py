"""The alerts service: turns detectors' signals into alerts, runs the periodic sweep, and
answers `/v1/alerts`.

Signals from the verification batches are written at the end of each usage flush; when the
store does not answer they wait (merged by type and subject, at most `MAX_PENDING`) for
the next flush. Every replica runs the same detectors and the same sweep: the store's
upsert against the index of active alerts keeps one alert per type and subject.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from keyplane.alerts.detectors import VerificationDetector, hour_start
from keyplane.alerts.model import (
    KEY_EXPIRING,
    KEY_ROTATION_DUE,
    STATES,
    TYPES,
    USAGE_SPIKE,
    Alert,
    Signal,
)
from keyplane.alerts.repository import AlertRepository
from keyplane.audit import events as actions
from keyplane.audit.events import Actor, AuditEvent
from keyplane.background import repeat
from keyplane.clock import Clock, rfc3339
from keyplane.errors import Invalid, NotFound
from keyplane.ids import is_id
from keyplane.pagination import Page, page_of
from keyplane.usage.events import UsageEvent

log = logging.getLogger("keyplane.alerts")

MAX_PENDING = 10_000
SWEEP_LIMIT = 1_000  # alerts a sweep raises of each kind, at most


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Thresholds (Settings `alert_*`; docs/alerts.md)."""

    enumeration_threshold: int = 20
    enumeration_window_seconds: float = 60.0
    tracked_addresses: int = 100_000
    spike_factor: float = 10.0
    spike_floor: int = 1000
    spike_baseline_hours: int = 24
    expiring_days: int = 7
    sweep_seconds: float = 60.0


class AlertService:
    def __init__(self, repository: AlertRepository, clock: Clock, policy: AlertPolicy) -> None:
        self._repository = repository
        self._clock = clock
        self._policy = policy
        self._detector = VerificationDetector(
            enumeration_threshold=policy.enumeration_threshold,
            window_seconds=policy.enumeration_window_seconds,
            max_addresses=policy.tracked_addresses)
        self._pending: dict[tuple[str, str, str], Signal] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.dropped = 0
        self.totals: dict[str, tuple[int, int]] = {}  # type: (alerts, occurrences), from the sweep

    async def observe_usage(self, batch: Sequence[UsageEvent]) -> None:
        """The usage recorder's hook, after each batch is written. Never raises: a failure
        keeps the signals for the next batch."""
        self._hold(self._detector.observe(batch))
        await self._write_pending()

    async def raise_signals(self, signals: Sequence[Signal]) -> list[Alert]:
        """Open or bump alerts now (raises when the store fails); returns those opened."""
        return await self._repository.raise_many(signals, self._clock.now())

    def _hold(self, signals: Sequence[Signal]) -> None:
        for signal in signals:
            held = self._pending.get(signal.subject)
            if held is not None:
                signal = dataclasses.replace(held, count=held.count + signal.count,
                                             at=max(held.at, signal.at))
            elif len(self._pending) >= MAX_PENDING:
                self.dropped += 1
                continue
            self._pending[signal.subject] = signal

    async def _write_pending(self) -> None:
        if not self._pending:
            return
        signals = list(self._pending.values())
        self._pending.clear()
        try:
            await self._repository.raise_many(signals, self._clock.now())
        except Exception:
            log.warning("could not write %d alert signals; kept for the next batch", len(signals),
                        exc_info=True)
            self._hold(signals)

    # --- the periodic sweep: policies over the keys and hourly usage ---

    async def sweep(self) -> None:
        """Raise `key.rotation_due`, `key.expiring` and `usage.spike` for what holds now, and
        refresh the per-type totals /metrics reports."""
        now = self._clock.now()
        policy = self._policy
        signals: list[Signal] = []
        for key_id, api_id, created_at, days in await self._repository.rotation_due(now, limit=SWEEP_LIMIT):
            signals.append(Signal(type=KEY_ROTATION_DUE, subject_kind="key", subject_id=key_id,
                                  at=now, api_id=api_id, repeats=False,
                                  details={"created_at": rfc3339(created_at), "rotation_days": days}))
        until = now + timedelta(days=policy.expiring_days)
        for key_id, api_id, expires_at in await self._repository.expiring(now, until, limit=SWEEP_LIMIT):
            signals.append(Signal(type=KEY_EXPIRING, subject_kind="key", subject_id=key_id, at=now,
                                  api_id=api_id, repeats=False,
                                  details={"expires_at": rfc3339(expires_at)}))
        signals.extend(await self._spikes(now))
        if signals:
            await self._repository.raise_many(signals, now)
        self.totals = {t: (n, total) for t, n, total in await self._repository.totals()}

    async def _spikes(self, now: datetime) -> list[Signal]:
        policy = self._policy
        hour = hour_start(now)
        current = await self._repository.hourly_counts(
            since=hour, until=hour + timedelta(hours=1), key_ids=None, floor=policy.spike_floor)
        if not current:
            return []
        current = current[:SWEEP_LIMIT]
        hours = policy.spike_baseline_hours
        before = {key_id: n for key_id, _, n in await self._repository.hourly_counts(
            since=hour - timedelta(hours=hours), until=hour, key_ids=[k for k, _, _ in current], floor=1)}
        signals = []
        for key_id, api_id, n in current:
            baseline = before.get(key_id, 0) / hours
            # The floor keeps quiet keys from paging anyone; a key with no history at all
            # is measured against a baseline of one an hour.
            if n >= policy.spike_factor * max(baseline, 1.0):
                signals.append(Signal(
                    type=USAGE_SPIKE, subject_kind="key", subject_id=key_id, at=now, api_id=api_id,
                    repeats=False, details={"hour": rfc3339(hour), "count": n,
                                            "baseline_per_hour": round(baseline, 2),
                                            "factor": policy.spike_factor}))
        return signals

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="keyplane-alert-sweep")

    async def _run(self) -> None:
        await repeat(self.sweep, every_seconds=self._policy.sweep_seconds, stopping=self._stopping,
                     log=log, failed="alert sweep failed; trying again later")

    async def close(self) -> None:
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None
        await self._write_pending()

    # --- /v1/alerts ---

    async def list_alerts(self, *, type: str | None, state: str | None, since: datetime | None,
                          before: str | None, limit: int) -> Page[Alert]:
        if type is not None and type not in TYPES:
            raise Invalid.field("type", f"one of {', '.join(TYPES)}", status=400)
        if state is not None and state not in STATES:
            raise Invalid.field("state", f"one of {', '.join(STATES)}", status=400)
        rows = await self._repository.page(type=type, state=state, since=since, before=before,
                                           limit=limit + 1)
        return page_of(rows, limit, lambda a: a.id)

    async def get_alert(self, alert_id: str) -> Alert:
        alert = await self._repository.get(alert_id) if is_id(alert_id, "alr") else None
        if alert is None:
            raise NotFound(f"no alert {alert_id}")
        return alert

    async def set_state(self, actor: Actor, alert_id: str, state: str) -> Alert:
        if state not in STATES:
            raise Invalid.field("state", f"one of {', '.join(STATES)}")
        now = self._clock.now()
        event = AuditEvent.of(actor, actions.ALERT_UPDATE, alert_id, now, state=state)
        alert = (await self._repository.set_state(alert_id, state, now, event)
                 if is_id(alert_id, "alr") else None)
        if alert is None:
            raise NotFound(f"no alert {alert_id}")
        return alert
