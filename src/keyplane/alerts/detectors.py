"""Detectors: pure functions of the event batches the service already writes.

They run where those batches are flushed (the usage recorder's background task, the audit
log's transaction), never per request on the event loop. Memory is bounded: the only state
kept between batches is one small window per client address, at most `max_addresses` of
them, the least recently seen evicted first, so an address flood cannot grow it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keyplane.alerts.model import (
    KEY_ENUMERATION,
    KEY_EXPIRED_USED,
    KEY_REVOKED_USED,
    REFRESH_TOKEN_REUSE,
    Signal,
)
from keyplane.audit import events as actions
from keyplane.audit.events import AuditEvent
from keyplane.usage.events import UsageEvent

MAX_ADDRESSES_IN_DETAILS = 10
_USED = {"REVOKED": KEY_REVOKED_USED, "EXPIRED": KEY_EXPIRED_USED}
_UNKNOWN = frozenset({"NOT_FOUND", "MALFORMED"})


@dataclass(slots=True)
class _Window:
    """A sliding-window counter of one address (the previous window's count weighted by how
    much of it still overlaps): two integers, whatever the rate."""

    start: float
    current: int = 0
    previous: int = 0
    reported: bool = False

    def add(self, at: float, n: int, seconds: float) -> float:
        passed = int((at - self.start) // seconds)
        if passed >= 2:
            self.previous, self.current = 0, 0
        elif passed == 1:
            self.previous, self.current = self.current, 0
        if passed > 0:
            self.start += passed * seconds
        self.current += n
        overlap = max(0.0, 1.0 - (at - self.start) / seconds)
        return self.previous * overlap + self.current


class VerificationDetector:
    """Reads batches of verification outcomes: a revoked or expired key presented, and
    bursts of unknown or malformed keys from one address (enumeration)."""

    def __init__(self, *, enumeration_threshold: int = 20, window_seconds: float = 60.0,
                 max_addresses: int = 100_000) -> None:
        self._threshold = enumeration_threshold
        self._window = window_seconds
        self._max = max_addresses
        self._addresses: OrderedDict[str, _Window] = OrderedDict()

    @property
    def tracked_addresses(self) -> int:
        return len(self._addresses)

    def observe(self, batch: Sequence[UsageEvent]) -> list[Signal]:
        used: dict[tuple[str, str], list[Any]] = {}  # (type, key_id): [count, api_id, last, ips]
        unknown: dict[str, list[Any]] = {}  # ip: [count, last]
        for e in batch:
            code = e.code
            if code == "VALID":
                continue
            kind = _USED.get(code)
            if kind is not None and e.key_id is not None:
                seen = used.get((kind, e.key_id))
                if seen is None:
                    seen = used[(kind, e.key_id)] = [0, e.api_id, e.time, set()]
                seen[0] += 1
                seen[2] = max(seen[2], e.time)
                if e.ip is not None and len(seen[3]) < MAX_ADDRESSES_IN_DETAILS:
                    seen[3].add(e.ip)
            elif code in _UNKNOWN and e.ip is not None:
                burst = unknown.get(e.ip)
                if burst is None:
                    unknown[e.ip] = [1, e.time]
                else:
                    burst[0] += 1
                    burst[1] = max(burst[1], e.time)
        signals = [Signal(type=kind, subject_kind="key", subject_id=key_id, at=last, api_id=api_id,
                          count=n, details={"ips": sorted(ips)})
                   for (kind, key_id), (n, api_id, last, ips) in used.items()]
        signals.extend(self._bursts(unknown.items()))
        return signals

    def _bursts(self, unknown: Iterable[tuple[str, list[Any]]]) -> Iterable[Signal]:
        for ip, (n, last) in unknown:
            at = last.timestamp()
            window = self._addresses.get(ip)
            if window is None:
                window = self._addresses[ip] = _Window(start=at)
                if len(self._addresses) > self._max:
                    self._addresses.popitem(last=False)  # the least recently seen address
            else:
                self._addresses.move_to_end(ip)
            estimate = window.add(at, n, self._window)
            if estimate < self._threshold:
                window.reported = False
                continue
            # Crossing the threshold reports the whole burst so far; later batches of the
            # same burst add what they hold.
            count = n if window.reported else max(n, round(estimate))
            window.reported = True
            yield Signal(type=KEY_ENUMERATION, subject_kind="ip", subject_id=ip, at=last,
                         count=count, details={"window_seconds": self._window,
                                               "threshold": self._threshold})


def audit_signals(entries: Iterable[AuditEvent]) -> list[Signal]:
    """Alerts that audit entries open on their own: a refresh token reused (the audit entry
    of the family's revocation, written in the same transaction as the alert)."""
    signals = []
    for entry in entries:
        if entry.action == actions.REFRESH_TOKEN_REUSE:
            details = entry.details
            client_id = str(details.get("client_id") or entry.actor)
            signals.append(Signal(
                type=REFRESH_TOKEN_REUSE, subject_kind="client", subject_id=client_id,
                at=entry.time, details={"family_id": entry.target, "subject": details.get("subject"),
                                        "token_id": details.get("token_id"), "ip": entry.ip,
                                        "audit_id": entry.id}))
    return signals


def hour_start(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
