"""N minutes of mixed load on three replicas: memory per worker, errors, latencies.

Starts its own cluster (tests/scale/cluster.py: a fresh PostgreSQL and Redis on free ports
of 127.0.0.1, three `keyplane serve --workers 2` replicas), prepares the workload
(tests/scale/load.py: verify, create, revoke, client_credentials, refresh, introspection,
keys with credits and limits) and sends it for --minutes from --concurrency tasks, sampling
the resident memory (VmRSS) of every worker process every --sample seconds. Prints and
checks:

- RSS per worker after the warm-up (the first sample past --warmup seconds) and at the end:
  growth must stay under 10 %;
- every answer by status; errors are anything but 200/201 and the documented 429s (a 400
  `invalid_grant` of a refresh chain broken by a lost answer is counted separately);
- p50 / p99 latency per operation, and requests per second.

Exits 1 when a check fails. Everything it started is ended, also on failure or Ctrl-C.

Run: .venv/bin/python bench/soak.py [--minutes 10] [--concurrency 24] [--sample 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from scale.cluster import Cluster  # noqa: E402
from scale.load import Ledger, Load, Workload, percentile  # noqa: E402

RSS_GROWTH_LIMIT = 0.10


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


async def sample_memory(cluster: Cluster, until: float, every: float,
                        samples: dict[int, list[tuple[float, int]]]) -> None:
    started = time.monotonic()
    while time.monotonic() < until:
        for replica in cluster.replicas:
            for pid in replica.worker_pids():
                kib = rss_kib(pid)
                if kib is not None:
                    samples.setdefault(pid, []).append((time.monotonic() - started, kib))
        await asyncio.sleep(min(every, max(0.0, until - time.monotonic())))


async def soak(cluster: Cluster, workload: Workload, *, seconds: float, concurrency: int,
               every: float) -> tuple[Ledger, dict[int, list[tuple[float, int]]]]:
    workload.add_special("credits", credits={"remaining": 10_000_000})
    workload.add_special("ratelimit", ratelimits=[{"name": "requests", "limit": 50, "window_seconds": 1}])
    samples: dict[int, list[tuple[float, int]]] = {}
    load = Load(workload)
    until = time.monotonic() + seconds
    ledger, _ = await asyncio.gather(load.run(seconds=seconds, concurrency=concurrency),
                                     sample_memory(cluster, until, every, samples))
    return ledger, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds before the RSS baseline (default: 1/5 of the run, ≤ 60)")
    args = parser.parse_args()
    if not (0.5 <= args.minutes <= 120 and 1 <= args.concurrency <= 256):
        raise SystemExit("--minutes 0.5..120 and --concurrency 1..256: runs stay bounded")
    seconds = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(60.0, seconds / 5)
    with Cluster(replicas=3, workers=2) as cluster:
        workload = Workload.prepare(cluster.urls, cluster.root_key, keys=200, chains=8)
        print(f"soak: {args.minutes:g} min, {args.concurrency} tasks, 3 replicas × 2 workers", flush=True)
        ledger, samples = asyncio.run(soak(cluster, workload, seconds=seconds,
                                           concurrency=args.concurrency, every=args.sample))
    ok = True
    statuses = ledger.statuses()
    answered = sum(n for s, n in statuses.items() if s != "transport")
    print(f"requests sent: {ledger.sent}, answered {answered} ({answered / seconds:.0f}/s)")
    print("answered by status: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str)))
    broken_chains = ledger.answers[("refresh", 400)]
    errors = Counter({k: v for k, v in ledger.answers.items()
                      if k[1] not in (200, 201, 429) and k != ("refresh", 400)})
    print(f"errors other than documented 429s: {sum(errors.values())} {dict(errors) or ''}"
          f" (refresh chains ended by invalid_grant: {broken_chains})")
    ok &= not errors and not ledger.server_errors and not ledger.contradictions
    print(f"contradictions of acknowledged writes: {len(ledger.contradictions)}")
    codes = {name: dict(counts) for name, counts in ledger.special.items()}
    print(f"verify codes of the metered keys: {codes}")
    print("latency per operation (ms): " + "; ".join(
        f"{op} p50 {percentile(v, 0.5) * 1000:.1f} p99 {percentile(v, 0.99) * 1000:.1f} (n={len(v)})"
        for op, v in sorted(ledger.latencies.items())))
    every_latency = [x for v in ledger.latencies.values() for x in v]
    print(f"all: p50 {percentile(every_latency, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(every_latency, 0.99) * 1000:.1f} ms")
    print(f"RSS per worker (MiB) after {warmup:.0f} s of warm-up → at the end:")
    for pid, series in sorted(samples.items()):
        base = next((kib for t, kib in series if t >= warmup), series[0][1])
        last = series[-1][1]
        growth = (last - base) / base
        ok &= growth < RSS_GROWTH_LIMIT
        print(f"  worker {pid}: {series[0][1] / 1024:.1f} at start, {base / 1024:.1f} → "
              f"{last / 1024:.1f} ({growth * 100:+.1f} %), {len(series)} samples")
    print("PASS" if ok else "FAIL")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
