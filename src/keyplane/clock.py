"""Time, handed in: the domain never calls `datetime.now()` itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to; for tests of expiry, windows and rotation."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, *, seconds: float = 0, days: float = 0) -> None:
        self._now += timedelta(seconds=seconds, days=days)

    def set(self, when: datetime) -> None:
        self._now = when


def rfc3339(when: datetime | None) -> str | None:
    """UTC RFC 3339 with a `Z`, millisecond precision; None stays None."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_second_texts: dict[int, str] = {}
_milli_texts: dict[int, str] = {}
_TEXTS_KEPT = 256


def rfc3339_epoch(seconds: float) -> str:
    """`rfc3339` of a time given as epoch seconds: rounded to the microsecond, then cut to
    the millisecond, as `rfc3339(datetime.fromtimestamp(seconds))` (the two differ only when
    `seconds` falls exactly half-way between two microseconds). Recent texts are kept, by
    millisecond and by whole second: the reset times of a key's limits move by a few µs a
    verification, so most calls find their text (0.6 → 0.2 µs a call, measured 2026-11-24;
    keeping only the last second missed on every call for a key with two limits)."""
    millis = round(seconds * 1_000_000) // 1000
    text = _milli_texts.get(millis)
    if text is None:
        whole, frac = divmod(millis, 1000)
        second = _second_texts.get(whole)
        if second is None:
            if len(_second_texts) >= _TEXTS_KEPT:
                _second_texts.clear()
            second = _second_texts[whole] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        if len(_milli_texts) >= _TEXTS_KEPT:
            _milli_texts.clear()
        text = _milli_texts[millis] = f"{second}.{frac:03d}Z"
    return text
