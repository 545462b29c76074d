"""Charts drawn on the server as SVG: bars of counts by outcome, no script needed.

`stacked` lays out one bar a bucket (an hour or a day) with a segment an outcome, in
coordinates of a fixed viewBox; templates/dashboard/charts.html draws it, with a data
table beside it for screen readers and for anyone who wants the numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from keyplane.keys.model import Code

WIDTH = 720
HEIGHT = 180
_LEFT = 36  # room for the y-axis labels
_BOTTOM = 18  # room for the x-axis labels
# Outcomes in the order they stack (bottom first), each with a CSS class of its colour.
ORDER = (Code.VALID, Code.RATE_LIMITED, Code.USAGE_EXCEEDED, Code.NOT_FOUND, Code.REVOKED,
         Code.EXPIRED, Code.DISABLED)
_CLASSED = {str(c) for c in ORDER}


@dataclass(frozen=True, slots=True)
class Segment:
    y: float
    height: float
    css: str
    label: str


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    width: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    width: int
    height: int
    left: int
    baseline: float
    bars: tuple[Bar, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    legend: tuple[tuple[str, str, int], ...]  # (css class, outcome, total)
    rows: tuple[tuple[str, tuple[int, ...], int], ...]  # (bucket, counts in legend order, total)
    total: int


ISSUED = "issued"  # the series of tokens issued, one colour of its own


def outcome_class(code: str) -> str:
    if code == ISSUED:
        return "o-tokens"
    return f"o-{code}" if code in _CLASSED else "o-other"


def _order(codes: set[str]) -> list[str]:
    known = [str(c) for c in ORDER if str(c) in codes]
    return known + sorted(codes - set(known))


def _nice_max(value: int) -> int:
    """The top of the y axis: the smallest 2, 4 or 10 × 10ⁿ at least `value`, so that its
    half, the middle line, is a whole number too."""
    top = 1
    while True:
        for step in (2, 4, 10):
            if step * top >= value:
                return step * top
        top *= 10


def stacked(title: str, buckets: Sequence[tuple[datetime, dict[str, int]]], *,
            label: Callable[[datetime], str], label_every: int) -> Chart:
    """A bar a bucket (its start and counts by outcome), outcomes stacked."""
    codes = _order({code for _, counts in buckets for code, n in counts.items() if n})
    totals = [sum(counts.values()) for _, counts in buckets]
    top = _nice_max(max(totals, default=0) or 1)
    plot_height = HEIGHT - _BOTTOM - 6
    baseline = HEIGHT - _BOTTOM
    slot = (WIDTH - _LEFT) / max(len(buckets), 1)
    bars: list[Bar] = []
    x_ticks: list[Tick] = []
    rows = []
    for i, (start, counts) in enumerate(buckets):
        x = _LEFT + i * slot
        y = float(baseline)
        segments = []
        for code in codes:
            n = counts.get(code, 0)
            if not n:
                continue
            height = n / top * plot_height
            y -= height
            segments.append(Segment(round(y, 2), round(height, 2), outcome_class(code),
                                    f"{label(start)}: {n} {code}"))
        bars.append(Bar(round(x + slot * 0.12, 2), round(slot * 0.76, 2), tuple(segments)))
        if i % label_every == 0:
            x_ticks.append(Tick(round(x + slot / 2, 2), label(start)))
        rows.append((label(start), tuple(counts.get(code, 0) for code in codes), totals[i]))
    y_ticks = tuple(Tick(round(baseline - f * plot_height, 2), f"{int(top * f):,}")
                    for f in (0.0, 0.5, 1.0))
    legend = tuple((outcome_class(code), code, sum(counts.get(code, 0) for _, counts in buckets))
                   for code in codes)
    return Chart(title=title, width=WIDTH, height=HEIGHT, left=_LEFT, baseline=baseline,
                 bars=tuple(bars), x_ticks=tuple(x_ticks), y_ticks=y_ticks, legend=legend,
                 rows=tuple(rows), total=sum(totals))


def hour_label(start: datetime) -> str:
    return start.strftime("%H:00")


def day_label(start: datetime) -> str:
    return start.strftime("%b %d")
