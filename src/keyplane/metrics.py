"""Prometheus metrics of one keyplane process (`GET /metrics`).

One registry per app, not the global one: several apps in one process (tests) never
share counters. With `--workers N` each worker counts its own requests; scrape them
through a load balancer as one target and the counters read as that worker's.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from keyplane.alerts.service import AlertService
from keyplane.keys.model import Code, Verdict
from keyplane.metering.charge import Metering
from keyplane.usage.recorder import UsageRecorder

_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 1.0)


class _Runtime(Collector):
    """Values read when scraped: the usage buffer and the limiter's health."""

    def __init__(self, recorder: UsageRecorder, metering: Metering) -> None:
        self._recorder = recorder
        self._metering = metering

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("keyplane_usage_buffer_depth",
                                "Verifications waiting to be written to the usage log",
                                value=self._recorder.depth)
        yield CounterMetricFamily("keyplane_usage_dropped",
                                  "Usage records dropped because the buffer was full",
                                  value=self._recorder.dropped)
        yield CounterMetricFamily("keyplane_usage_flush_failures",
                                  "Usage flushes that failed (retried on the next tick)",
                                  value=self._recorder.flush_failures)
        yield CounterMetricFamily("keyplane_ratelimiter_failures",
                                  "Verifications during which the rate limiter did not answer",
                                  value=self._metering.limiter_failures)


class _Alerts(Collector):
    """Alerts by type, counted in the store (every replica's, read by the periodic sweep):
    alerts opened and occurrences (each bump of an open alert adds its count)."""

    def __init__(self, alerts: AlertService) -> None:
        self._alerts = alerts

    def collect(self) -> Iterator[Metric]:
        opened = CounterMetricFamily("keyplane_alerts_opened", "Security alerts opened, by type",
                                     labels=["type"])
        seen = CounterMetricFamily("keyplane_alert_occurrences",
                                   "Occurrences counted into security alerts, by type", labels=["type"])
        for alert_type, (n, total) in sorted(self._alerts.totals.items()):
            opened.add_metric([alert_type], n)
            seen.add_metric([alert_type], total)
        yield opened
        yield seen
        yield CounterMetricFamily("keyplane_alert_signals_dropped",
                                  "Detector findings dropped while the store did not answer",
                                  value=self._alerts.dropped)


class _Requests(Collector):
    """The per-request counters, kept as plain counts and read when scraped.

    prometheus_client's `Counter.inc` and `Histogram.observe` take a lock and check their
    state on every call (~1.5 µs together under load); the counts here are bumped by the
    event loop alone (one thread), so a dict entry or a list slot is enough.
    """

    def __init__(self) -> None:
        self.verifications: Counter[tuple[str, str]] = Counter()
        self.rejections: Counter[str] = Counter()
        self.tokens: Counter[str] = Counter()
        self.introspections: Counter[bool] = Counter()
        self.latency_buckets = [0] * (len(_LATENCY_BUCKETS) + 1)  # the last one: +Inf
        self.latency_sum = 0.0

    def collect(self) -> Iterator[Metric]:
        verifications = CounterMetricFamily(
            "keyplane_verifications", "Key verifications by API and outcome code",
            labels=["api_id", "code"])
        for (api_id, code), n in sorted(self.verifications.items()):
            verifications.add_metric([api_id, code], n)
        yield verifications
        cumulative, buckets = 0, []
        for bound, n in zip((*map(repr, _LATENCY_BUCKETS), "+Inf"), self.latency_buckets):
            cumulative += n
            buckets.append((bound, cumulative))
        yield HistogramMetricFamily(
            "keyplane_verify_duration_seconds", "Time to answer POST /v1/keys/verify",
            buckets=buckets, sum_value=self.latency_sum)
        rejections = CounterMetricFamily(
            "keyplane_ratelimit_rejections", "Verifications refused as RATE_LIMITED, by API",
            labels=["api_id"])
        for api_id, n in sorted(self.rejections.items()):
            rejections.add_metric([api_id], n)
        yield rejections
        tokens = CounterMetricFamily("keyplane_tokens_issued", "Access tokens issued, by grant type",
                                     labels=["grant_type"])
        for grant_type, n in sorted(self.tokens.items()):
            tokens.add_metric([grant_type], n)
        yield tokens
        introspections = CounterMetricFamily("keyplane_introspections",
                                             "Token introspections, by answer", labels=["active"])
        for active, n in sorted(self.introspections.items()):
            introspections.add_metric(["true" if active else "false"], n)
        yield introspections


class Metrics:
    def __init__(self, recorder: UsageRecorder, metering: Metering,
                 alerts: AlertService | None = None) -> None:
        self.registry = CollectorRegistry()
        self._requests = _Requests()
        self.registry.register(self._requests)
        self.registry.register(_Runtime(recorder, metering))
        if alerts is not None:
            self.registry.register(_Alerts(alerts))

    def observe_verification(self, verdict: Verdict, seconds: float) -> None:
        # Labelled by the found key's API only: a caller's made-up api_id must not be able
        # to create label values without bound.
        api_id = verdict.key.api_id if verdict.key is not None else "unknown"
        requests = self._requests
        requests.verifications[(api_id, verdict.code.value)] += 1
        # Prometheus buckets are upper bounds, inclusive: `bisect_left` finds the first ≥.
        requests.latency_buckets[bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        requests.latency_sum += seconds
        if verdict.code is Code.RATE_LIMITED:
            requests.rejections[api_id] += 1

    def observe_token(self, grant_type: str) -> None:
        self._requests.tokens[grant_type] += 1

    def observe_introspection(self, active: bool) -> None:
        self._requests.introspections[active] += 1
