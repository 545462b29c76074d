"""Three replicas (two workers each) on one PostgreSQL and one Redis, under mixed load, each
fault dealt once: nothing acknowledged is lost, credits and limits hold exactly, usage is lost
only from the killed process's unflushed buffer, and no request is answered 500.

The cluster takes 30-60 s to start on a busy machine, so one test deals the three faults in
turn on one cluster (three tests would be spread over pytest-xdist's workers, a cluster
each); each fault's checks are gathered, so a failure of one still lets the others run and
report. bench/faults.py runs the same faults longer and harder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from scale import faults
from scale.cluster import Cluster
from scale.load import Workload

pytestmark = pytest.mark.live


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with Cluster(replicas=3, workers=2) as running:
        yield running


def test_three_replicas_lose_nothing_acknowledged_when_a_replica_redis_or_postgresql_fails(
        cluster: Cluster) -> None:
    workload = Workload.prepare(cluster.urls, cluster.root_key, keys=20, chains=6)
    failures = []
    for check in (_a_killed_replica_loses_no_acknowledged_write_and_no_limit_is_overspent,
                  _with_redis_stopped_limits_keep_their_failure_mode_and_are_shared_again_after,
                  _a_postgresql_restart_is_503_with_retry_after_then_full_service_without_restarts):
        try:
            check(cluster, workload)
        except AssertionError as exc:
            failures.append(f"{check.__name__}: {exc}")
    assert not failures, "\n\n".join(failures)


def _no_errors(report: faults.Report, cluster: Cluster) -> None:
    assert not report.server_errors(), "\n".join(report.lines()) + cluster.logs()
    assert not report.contradictions(), "\n".join(report.lines())


def _a_killed_replica_loses_no_acknowledged_write_and_no_limit_is_overspent(
        cluster: Cluster, workload: Workload) -> None:
    report = asyncio.run(faults.replica_kill(cluster, workload, seconds=3.0, credits=20, limit=10))
    _no_errors(report, cluster)
    assert report.checked["keys"] > 0 and report.checked["revocations"] > 0, report.lines()
    counts = report.facts["counts"]
    credits = counts["credits_answers"]
    # Every VALID was paid for, and nothing was paid twice: the balance says so exactly.
    assert credits.get("VALID", 0) <= counts["credits"]
    spent = counts["credits"] - counts["credits_left"]
    assert credits.get("VALID", 0) <= spent <= credits.get("VALID", 0) + credits.get("unanswered", 0)
    limited = counts["limit_answers"]
    assert limited.get("VALID", 0) <= counts["limit"], report.lines()
    if sum(limited.values()) >= 2 * counts["limit"]:  # enough tries to use up the limit
        assert limited.get("VALID", 0) + limited.get("unanswered", 0) >= counts["limit"]
    # Usage: the survivors lost nothing; the killed replica at most what it answered in its
    # last two flush intervals (and it may have recorded answers that never reached us).
    assert report.lost["usage records, other replicas"] == 0, report.lines()
    victim_loss = report.lost["usage records, killed replica"]
    assert -counts["usage_unanswered"] <= victim_loss <= counts["usage_victim_last_2s"], report.lines()
    assert cluster.replicas[1].starts == 2


def _with_redis_stopped_limits_keep_their_failure_mode_and_are_shared_again_after(
        cluster: Cluster, workload: Workload) -> None:
    report = asyncio.run(faults.redis_outage(cluster, workload, outage_seconds=2.0, seconds=1.0))
    _no_errors(report, cluster)
    assert report.answers()["transport"] == 0
    down = report.ledgers["Redis down"].special
    assert set(down["open"]) == {"VALID"}, down  # fail_open (the default) admits
    assert set(down["closed"]) == {"RATE_LIMITED"}, down  # fail_open: false refuses
    assert report.facts["recovered_seconds"] is not None
    assert report.facts["recovered_seconds"] <= faults.RECOVERY_DEADLINE_SECONDS
    assert report.facts["limit of 5 after, 30 tries over the replicas"] == {"VALID": 5, "RATE_LIMITED": 25}


def _a_postgresql_restart_is_503_with_retry_after_then_full_service_without_restarts(
        cluster: Cluster, workload: Workload) -> None:
    report = asyncio.run(faults.postgres_restart(cluster, workload, outage_seconds=1.5, seconds=1.0))
    _no_errors(report, cluster)
    assert report.answers()["transport"] == 0, report.lines()
    assert sum(ledger.no_retry_after for ledger in report.ledgers.values()) == 0
    assert set(report.ledgers["PostgreSQL down"].statuses()) <= {200, 400, 503}, report.lines()
    assert report.facts["/readyz while down"] == {503: 3}
    assert report.facts["recovered_seconds"] is not None
    assert report.facts["recovered_seconds"] <= faults.RECOVERY_DEADLINE_SECONDS
    assert 503 not in report.ledgers["after"].statuses(), report.lines()
    assert report.facts["replicas restarted"] == 0
