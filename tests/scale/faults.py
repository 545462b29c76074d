"""The three faults, each dealt under load to a running `Cluster`, each returning a report.

The tests (tests/scale/test_faults.py) assert on the reports with a few seconds of load;
bench/faults.py runs the same functions longer and harder and prints them. Each fault
leaves the cluster as it found it (the replica restarted, Redis and PostgreSQL back).

- `replica_kill`: SIGKILL of one replica's process group mid-load, then a restart;
- `redis_outage`: redis-server stopped for `outage_seconds`, then started (empty: it keeps
  nothing on disk, as in production);
- `postgres_restart`: PostgreSQL stopped (fast shutdown) for `outage_seconds`, then started.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from scale.cluster import Cluster
from scale.load import Ledger, Load, Workload, check_acknowledged, usage_recorded

FLUSH_WAIT_SECONDS = 2.2  # usage flushes every 1 s: every survivor's buffer is written by then
RECOVERY_DEADLINE_SECONDS = 5.0


@dataclass
class Report:
    fault: str
    ledgers: dict[str, Ledger] = field(default_factory=dict)  # phase: what the load saw
    checked: dict[str, int] = field(default_factory=dict)
    lost: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def answers(self) -> Counter[int | str]:
        total: Counter[int | str] = Counter()
        for ledger in self.ledgers.values():
            total.update(ledger.statuses())
        return total

    def sent(self) -> int:
        return sum(ledger.sent for ledger in self.ledgers.values())

    def contradictions(self) -> list[str]:
        return [c for ledger in self.ledgers.values() for c in ledger.contradictions]

    def server_errors(self) -> list[str]:
        return [e for ledger in self.ledgers.values() for e in ledger.server_errors]

    def lines(self) -> list[str]:
        out = [f"fault: {self.fault}", f"  requests sent: {self.sent()}",
               "  answered by status: " + ", ".join(f"{k}: {v}" for k, v in
                                                    sorted(self.answers().items(), key=str))]
        for phase, ledger in self.ledgers.items():
            out.append(f"  {phase}: sent {ledger.sent}; " + "; ".join(
                f"{op} " + " ".join(f"{s}:{n}" for s, n in statuses.items())
                for op, statuses in ledger.by_operation().items()))
        out.append("  acknowledged writes checked: " + ", ".join(f"{k} {v}" for k, v in self.checked.items()))
        out.append("  lost: " + (", ".join(f"{k}: {v}" for k, v in self.lost.items()) or "nothing"))
        for key, value in self.facts.items():
            out.append(f"  {key}: {value}")
        problems = self.contradictions() + self.server_errors()
        out.append(f"  contradictions and 5xx other than 503: {len(problems)}")
        out.extend(f"    {p}" for p in problems[:20])
        return out


def _verify(url: str, root_key: str, key: str, api_id: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/keys/verify", json={"key": key, "api_id": api_id}, timeout=10.0,
                      headers={"Authorization": f"Bearer {root_key}"})


async def replica_kill(cluster: Cluster, workload: Workload, *, seconds: float = 4.0,
                       concurrency: int = 12, victim: int = 1, credits: int = 150,
                       big_credits: int = 100_000, limit: int = 40) -> Report:
    """Kill `victim` at 40 % of the load, restart it after, and check every acknowledged
    write, the credit and rate-limit counts, and the usage records each replica kept."""
    report = Report("SIGKILL of one replica (its process group), then a restart")
    _id, _ = workload.add_special("credits", credits={"remaining": credits})
    big_id, _ = workload.add_special("credits_big", credits={"remaining": big_credits})
    workload.add_special("ratelimit", ratelimits=[{"name": "requests", "limit": limit,
                                                    "window_seconds": 3600}])
    await asyncio.sleep(FLUSH_WAIT_SECONDS)  # earlier phases' usage written before the baseline
    baseline = [await usage_recorded(cluster.urls[0], cluster.root_key, key_id)
                for key_id, _ in workload.usage_keys]
    weights = {"verify": 30, "create": 10, "revoke": 4, "client_credentials": 10, "refresh": 4,
               "introspect": 10, "special": 15, "usage": 17}
    load = Load(workload, weights=weights)
    running = asyncio.create_task(load.run(seconds=seconds, concurrency=concurrency))
    await asyncio.sleep(seconds * 0.4)
    replica = cluster.replicas[victim]
    killed_at = time.monotonic()
    await asyncio.to_thread(replica.kill)
    ledger = await running
    report.ledgers["load"] = ledger
    # The restart (seconds on a busy machine) runs while the survivors are checked; the
    # restarted replica is checked on its own once it is ready.
    restarting = asyncio.create_task(asyncio.to_thread(cluster.restart, replica))
    await asyncio.sleep(FLUSH_WAIT_SECONDS)
    survivors = [r.url for r in cluster.replicas if r is not replica]
    report.checked = await check_acknowledged(survivors, cluster.root_key, workload.api_id, ledger)
    await restarting
    again = await check_acknowledged([replica.url], cluster.root_key, workload.api_id, ledger)
    report.checked["on the restarted replica"] = sum(again.values())
    counts = ledger.special
    report.facts["credits"] = (f"{credits} credits, {counts['credits']['VALID']} VALID, "
                               f"{counts['credits']['USAGE_EXCEEDED']} USAGE_EXCEEDED, "
                               f"{counts['credits']['unanswered']} unanswered")
    report.facts["rate limit"] = (f"{limit} per hour, {counts['ratelimit']['VALID']} VALID, "
                                  f"{counts['ratelimit']['RATE_LIMITED']} RATE_LIMITED, "
                                  f"{counts['ratelimit']['unanswered']} unanswered")
    async with httpx.AsyncClient(base_url=cluster.urls[0], timeout=30.0,
                                 headers={"Authorization": f"Bearer {cluster.root_key}"}) as admin:
        remaining = (await admin.get(f"/v1/keys/{big_id}")).json()["credits"]["remaining"]
    spent = big_credits - remaining
    big = counts["credits_big"]
    report.facts["leased credits"] = (f"{big_credits} credits, {big['VALID']} VALID answered, "
                                      f"{big['unanswered']} unanswered, {spent} gone from the balance")
    # Leased blocks the killed processes held are gone with them (docs/metering.md): at most
    # one block (≤ 1,000) per process and key.
    report.lost["leased credits of the killed processes"] = spent - big["VALID"] - big["unanswered"]

    recorded = [await usage_recorded(cluster.urls[0], cluster.root_key, key_id) - base
                for (key_id, _), base in zip(workload.usage_keys, baseline, strict=True)]
    lost_usage = {i: ledger.usage_answered[i] - recorded[i] for i in range(len(recorded))}
    report.lost["usage records, killed replica"] = lost_usage[victim]
    report.lost["usage records, other replicas"] = sum(v for i, v in lost_usage.items() if i != victim)
    times = ledger.usage_times[victim]
    report.facts["usage answered by the killed replica"] = (
        f"{ledger.usage_answered[victim]} in all, "
        f"{sum(1 for t in times if killed_at - 1.0 <= t <= killed_at)} in its last second, "
        f"{sum(1 for t in times if killed_at - 2.0 <= t <= killed_at)} in its last 2 s")
    async with httpx.AsyncClient(base_url=cluster.urls[0], timeout=30.0,
                                 headers={"Authorization": f"Bearer {cluster.root_key}"}) as admin:
        small_left = (await admin.get(f"/v1/keys/{_id}")).json()["credits"]["remaining"]
    report.facts["counts"] = dict(
        credits=credits, credits_left=small_left, credits_answers=dict(counts["credits"]),
        limit=limit, limit_answers=dict(counts["ratelimit"]),
        usage_unanswered=ledger.answers[("usage", "transport")],
        usage_victim_last_2s=sum(1 for t in times if killed_at - 2.0 <= t <= killed_at))
    return report


async def _measure_recovery(probe: Any, deadline: float) -> float | None:
    """Seconds from now to the start of the first round of `probe()` (sync, in a thread)
    that is true — from then on every probed request was served; None past `deadline`.
    (Counting to the round's end would add the probe's own duration, seconds on a busy
    machine, to the figure.)"""
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        round_started = time.monotonic()
        if await asyncio.to_thread(probe):
            return round_started - started
        await asyncio.sleep(0.05)
    return None


async def redis_outage(cluster: Cluster, workload: Workload, *, outage_seconds: float = 10.0,
                       seconds: float = 2.0, concurrency: int = 12) -> Report:
    """Stop Redis under load: fail-open limits admit, fail-closed ones refuse, nothing else
    changes; then start it and time the return of shared limits."""
    assert cluster.redis is not None
    report = Report(f"Redis stopped for {outage_seconds:g} s, then started")
    big = 1_000_000
    workload.special.clear()
    workload.add_special("open", ratelimits=[{"name": "open", "limit": big, "window_seconds": 60}])
    workload.add_special("closed", ratelimits=[{"name": "closed", "limit": big, "window_seconds": 60,
                                                "fail_open": False}])
    weights = {"verify": 30, "create": 8, "revoke": 3, "client_credentials": 10, "refresh": 4,
               "introspect": 10, "special": 25}
    report.ledgers["before"] = await Load(workload, weights=weights).run(seconds=seconds,
                                                                         concurrency=concurrency)
    await asyncio.to_thread(cluster.redis.stop)
    report.ledgers["Redis down"] = await Load(workload, weights=weights).run(
        seconds=outage_seconds, concurrency=concurrency)
    report.facts["verify codes while Redis was down"] = {
        name: dict(codes) for name, codes in report.ledgers["Redis down"].special.items()}
    await asyncio.to_thread(cluster.redis.start)
    _, closed_key = workload.special["closed"]

    def shared_again() -> bool:
        return all(_verify(url, cluster.root_key, closed_key, workload.api_id).json()["code"] == "VALID"
                   for url in cluster.urls)

    back = await _measure_recovery(shared_again, RECOVERY_DEADLINE_SECONDS * 4)
    report.facts["fail-closed limits admit again after"] = "never" if back is None else f"{back:.2f} s"
    report.facts["recovered_seconds"] = back
    # Shared and exact again: a fresh limit of 5 hammered through every replica admits 5.
    _, exact_key = workload.add_special("exact", ratelimits=[{"name": "exact", "limit": 5,
                                                              "window_seconds": 3600}])
    codes: Counter[str] = Counter(
        _verify(cluster.urls[n % len(cluster.urls)], cluster.root_key, exact_key,
                workload.api_id).json()["code"] for n in range(30))
    report.facts["limit of 5 after, 30 tries over the replicas"] = dict(codes)
    report.ledgers["after"] = await Load(workload, weights=weights).run(seconds=seconds,
                                                                        concurrency=concurrency)
    for phase, ledger in report.ledgers.items():
        report.checked[f"{phase}: acknowledged"] = len(ledger.created) + len(ledger.revoked)
    combined = _merge(report.ledgers.values())
    before = len(combined.contradictions)
    report.checked.update(await check_acknowledged(cluster.urls, cluster.root_key, workload.api_id,
                                                   combined))
    report.ledgers["final check"] = Ledger(contradictions=combined.contradictions[before:])
    return report


def _merge(ledgers: Any) -> Ledger:
    merged = Ledger()
    for ledger in ledgers:
        merged.created.update(ledger.created)
        merged.revoked |= ledger.revoked
        merged.revoking |= ledger.revoking
        merged.contradictions.extend(ledger.contradictions)
    merged.revoking -= merged.revoked
    return merged


async def postgres_restart(cluster: Cluster, workload: Workload, *, outage_seconds: float = 3.0,
                           seconds: float = 2.0, concurrency: int = 12) -> Report:
    """Stop PostgreSQL under load, start it again; no replica is restarted."""
    assert cluster.postgres is not None
    report = Report(f"PostgreSQL stopped (fast shutdown) for {outage_seconds:g} s, then started")
    workload.special.clear()
    pids = {r.name: (r.process.pid if r.process else None, tuple(r.worker_pids()))
            for r in cluster.replicas}
    report.ledgers["before"] = await Load(workload).run(seconds=seconds, concurrency=concurrency)
    await asyncio.to_thread(cluster.postgres.stop)
    down = Load(workload)
    report.ledgers["PostgreSQL down"] = await down.run(seconds=outage_seconds, concurrency=concurrency)
    readyz = Counter(httpx.get(f"{url}/readyz", timeout=10.0).status_code for url in cluster.urls)
    report.facts["/readyz while down"] = dict(readyz)
    await asyncio.to_thread(cluster.postgres.start)  # returns once pg_isready answers
    probe_key = workload.keys[0][1]
    basic = httpx.BasicAuth(workload.client_id, workload.client_secret)
    headers = {"Authorization": f"Bearer {cluster.root_key}"}

    def full_service() -> bool:
        for url in cluster.urls:
            for _ in range(4):  # several requests: each worker's pool must have healed
                made = httpx.post(f"{url}/v1/keys", json={"api_id": workload.api_id}, headers=headers,
                                  timeout=10.0)
                verified = _verify(url, cluster.root_key, probe_key, workload.api_id)
                token = httpx.post(f"{url}/oauth/token", data={"grant_type": "client_credentials"},
                                   auth=basic, timeout=10.0)
                if (made.status_code, verified.status_code, token.status_code) != (201, 200, 200):
                    return False
        return True

    back = await _measure_recovery(full_service, RECOVERY_DEADLINE_SECONDS * 4)
    report.facts["full service after PostgreSQL answers"] = "never" if back is None else f"{back:.2f} s"
    report.facts["recovered_seconds"] = back
    report.ledgers["after"] = await Load(workload).run(seconds=seconds, concurrency=concurrency)
    after_pids = {r.name: (r.process.pid if r.process else None, tuple(r.worker_pids()))
                  for r in cluster.replicas}
    report.facts["replicas restarted"] = sum(pids[n] != after_pids[n] for n in pids)
    combined = _merge(report.ledgers.values())
    before = len(combined.contradictions)
    report.checked.update(await check_acknowledged(cluster.urls, cluster.root_key, workload.api_id,
                                                   combined))
    report.ledgers["final check"] = Ledger(contradictions=combined.contradictions[before:])
    return report
