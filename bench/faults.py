"""The three faults of tests/scale/ under heavier load, with one command.

Starts its own cluster (tests/scale/cluster.py: a fresh PostgreSQL and Redis on free ports
of 127.0.0.1, three `keyplane serve --workers 2` replicas), prepares the workload, then deals
in turn: SIGKILL of one replica's process group under load and a restart; Redis stopped for
--redis-outage seconds; PostgreSQL stopped for --pg-outage seconds. Prints per fault:
requests sent, answers by status (and by operation and phase), acknowledged writes checked,
what was lost, the recovery times, and every contradiction or 5xx other than 503. Exits 1
if anything acknowledged was lost or a 500 was answered. Everything it started is ended and
its directory removed, also on failure or Ctrl-C.

Run: .venv/bin/python bench/faults.py [--seconds 15] [--concurrency 32] [--redis-outage 10]
     [--pg-outage 5]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from scale import faults  # noqa: E402
from scale.cluster import Cluster  # noqa: E402
from scale.load import Workload  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="load per fault phase")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--redis-outage", type=float, default=10.0)
    parser.add_argument("--pg-outage", type=float, default=5.0)
    args = parser.parse_args()
    if not (1 <= args.seconds <= 120 and 1 <= args.concurrency <= 256
            and 1 <= args.redis_outage <= 60 and 1 <= args.pg_outage <= 60):
        raise SystemExit("--seconds 1..120, --concurrency 1..256, outages 1..60 s: runs stay bounded")
    started = time.monotonic()
    failed = False
    with Cluster(replicas=3, workers=2) as cluster:
        print(f"cluster up in {time.monotonic() - started:.1f} s: {', '.join(cluster.urls)}", flush=True)
        workload = Workload.prepare(cluster.urls, cluster.root_key, keys=50, chains=8)
        runs = [
            lambda: faults.replica_kill(cluster, workload, seconds=args.seconds,
                                        concurrency=args.concurrency, credits=150, limit=40),
            lambda: faults.redis_outage(cluster, workload, outage_seconds=args.redis_outage,
                                        seconds=args.seconds / 3, concurrency=args.concurrency),
            lambda: faults.postgres_restart(cluster, workload, outage_seconds=args.pg_outage,
                                            seconds=args.seconds / 3, concurrency=args.concurrency),
        ]
        for run in runs:
            took = time.monotonic()
            report = asyncio.run(run())
            print("\n".join(report.lines()), flush=True)
            print(f"  (fault took {time.monotonic() - took:.1f} s)\n", flush=True)
            failed |= bool(report.contradictions() or report.server_errors())
    verdict = "PROBLEMS above" if failed else "nothing acknowledged lost, no 500"
    print(f"done in {time.monotonic() - started:.0f} s; {verdict}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
