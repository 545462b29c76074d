"""What metering costs over real HTTP: plain vs metered verify, in memory and on Redis.

Starts, on 127.0.0.1, real `keyplane serve` processes (one worker each, a temp data dir,
SQLite) and `bench/bare_app.py` under uvicorn with the same options (see verify_http.py):

- `mem`    keyplane with the in-memory limiter;
- `redis`  keyplane with `KEYPLANE_REDIS_URL` (default redis://127.0.0.1:6379/0);
- `bare`   the bare endpoint of the same stack (the baseline).

and creates through the API, in one API per server:

- (a) `plain`          a key with no limits and no credits (on `mem`);
- (b) `metered_mem`    a key with two rate limits that never refuse (1e9 per hour and 1e9 per
                       day) and a large credit balance (on `mem`);
- (c) `metered_redis`  the same key configuration on `redis`.

Usage recording is always on (it is in every verification). wrk (a Lua script: POST, JSON
body, Authorization header, 32 connections, one thread) loads each target in turn, round by
round (every other round in reverse order), waiting `--settle` seconds after each run so
that the server's usage flush of that run's records is done before the next run starts
(else the flush of plain's records would run, and count, in metered's time on the same
server). The script prints req/s (medians), each target × bare, and the metering overhead
per request: `plain / metered - 1` (the extra time a metered verification takes; the
throughput lost is `1 - metered / plain`), per round and as the median of the rounds.
It also reads each server's CPU time from /proc around every wrk run: CPU µs per request
(read after the settling wait: with its own usage flush) of the whole process and of its
busiest thread (the event loop), which the other load on a
shared machine disturbs less than req/s does.

`--compare-src DIR` also serves keyplane from another source tree (its `src`, first on
PYTHONPATH: the code before a change) as `mem_before`/`redis_before` with the same three
keys, so a before/after figure comes from the same run.

Run: .venv/bin/python bench/metering_http.py [--duration 10] [--rounds 3]
Needs wrk and a Redis on loopback. Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from verify_http import (
    BENCH,
    PYTHON,
    ROOT_KEY,
    SECRET,
    _call,
    _free_port,
    _script,
    _start,
    _stop,
    _wait_ready,
    _wrk,
    bare_command,
)

METERED = {
    "ratelimits": [{"name": "per_hour", "limit": 10**9, "window_seconds": 3600},
                   {"name": "per_day", "limit": 10**9, "window_seconds": 86400}],
    "credits": {"remaining": 10**15},
}
GOALS = {"metered_mem": 0.15, "metered_redis": 0.35}


def _make_keys(base: str) -> dict[str, dict[str, Any]]:
    """An API with a plain and a metered key; the verify body of each (both VALID)."""
    status, api = _call("POST", base + "/v1/apis", {"name": "bench", "key_prefix": "sk_bench"})
    assert status == 201, (status, api)
    bodies = {}
    for name, extra in (("plain", {}), ("metered", METERED)):
        status, key = _call("POST", base + "/v1/keys", {
            "api_id": api["id"], "name": f"bench {name} key", "owner_id": "team_42",
            "permissions": ["documents.read", "documents.write"], "metadata": {"plan": "pro"},
            **extra})
        assert status == 201, (status, key)
        body = {"key": key["key"]}
        status, answer = _call("POST", base + "/v1/keys/verify", body)
        assert status == 200 and answer["code"] == "VALID", (status, answer)
        if extra:
            assert len(answer["ratelimits"]) == 2 and answer["credits_remaining"] == 10**15 - 1, answer
        bodies[name] = body
    return bodies


_TICK = os.sysconf("SC_CLK_TCK")


def _ticks(path: Path) -> float:
    fields = path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants: granian serves from worker processes it spawns."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for children in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in children.read_text().split()]
    return found


def _cpu(pid: int) -> dict[tuple[int, str], float]:
    """CPU seconds so far, user + system, of each process of the server's tree (key
    (pid, "")) and of each of their threads (key (pid, tid)), from /proc."""
    seen: dict[tuple[int, str], float] = {}
    for p in _tree(pid):
        with contextlib.suppress(OSError):
            seen[(p, "")] = _ticks(Path(f"/proc/{p}/stat"))
            for task in Path(f"/proc/{p}/task").iterdir():
                seen[(p, task.name)] = _ticks(task / "stat")
    return seen


def _cpu_spent(before: dict[tuple[int, str], float], after: dict[tuple[int, str], float]) -> tuple[float, float]:
    """(whole tree, busiest thread) CPU seconds between two `_cpu` readings; the busiest
    thread is the event loop's (uvicorn: the main thread; granian: a worker's)."""
    spent = {k: v - before.get(k, 0.0) for k, v in after.items()}
    return (sum(v for (_, tid), v in spent.items() if not tid),
            max((v for (_, tid), v in spent.items() if tid), default=0.0))


def _check_metered(base: str, body: dict[str, Any]) -> int:
    status, answer = _call("POST", base + "/v1/keys/verify", body)
    assert status == 200 and answer["code"] == "VALID", (status, answer)
    assert len(answer["ratelimits"]) == 2, answer
    return 10**15 - int(answer["credits_remaining"])  # credits spent so far


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds a wrk run (≤ 30)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--settle", type=float, default=1.5, help="seconds to wait after each "
                        "wrk run, before the next (≥ the usage flush interval, 1 s)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--only", help="comma-separated targets to run (default: all)")
    parser.add_argument("--compare-src", metavar="DIR", help="also serve keyplane from this "
                        "`src` directory (first on PYTHONPATH): the code before a change; "
                        "the same as --variant before=DIR")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=[DIR][+FLAG]",
                        help="also serve keyplane as NAME: from the `src` directory DIR (default: "
                        "this tree); +gc-freeze: under serve_gc_freeze.py; +no-flush: usage "
                        "kept in memory, not written during the run (what flushing costs); its "
                        "targets are plain_NAME, metered_mem_NAME, metered_redis_NAME. Repeatable.")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    if not args.redis.startswith("redis://127.0.0.1") and not args.redis.startswith("redis://localhost"):
        raise SystemExit("loopback Redis only")
    duration = min(args.duration, 30)
    exe = str(Path(PYTHON).parent / "keyplane")

    tmp = Path(tempfile.mkdtemp(prefix="kp-metering-bench-"))
    env = {**os.environ, "KEYPLANE_ROOT_KEY": ROOT_KEY, "KEYPLANE_SECRET_KEY": SECRET,
           "KEYPLANE_LOG_LEVEL": "warning"}
    for name in ("KEYPLANE_DATABASE_URL", "KEYPLANE_REDIS_URL", "PYTHONPATH"):
        env.pop(name, None)
    servers: dict[str, tuple[list[str], dict[str, str]]] = {}
    ports: dict[str, int] = {}

    def keyplane(name: str, *, redis: bool, src: str | None = None, gc_freeze: bool = False,
                 no_flush: bool = False) -> None:
        ports[name] = port = _free_port()
        e = {**env, "KEYPLANE_DATA_DIR": str(tmp / name)}
        if no_flush:
            e |= {"KEYPLANE_USAGE_FLUSH_SECONDS": "60", "KEYPLANE_USAGE_BUFFER_SIZE": "10000000"}
        if redis:
            e["KEYPLANE_REDIS_URL"] = args.redis
        if src:
            e["PYTHONPATH"] = str(Path(src).resolve())
        start = [PYTHON, str(BENCH / "serve_gc_freeze.py")] if gc_freeze else [exe]
        servers[name] = ([*start, "serve", "--host", "127.0.0.1", "--port", str(port),
                          "--workers", "1"], e)

    variants: dict[str, tuple[str | None, set[str]]] = {}
    if args.compare_src:
        variants["before"] = (args.compare_src, set())
    for spec in args.variant:
        vname, _, rest = spec.partition("=")
        src, *flags = rest.split("+")
        if not vname.isidentifier() or not set(flags) <= {"gc-freeze", "no-flush"}:
            raise SystemExit(f"--variant {spec}: expected NAME=[DIR][+gc-freeze][+no-flush]")
        variants[vname] = (src or None, set(flags))

    ports["bare"] = _free_port()
    servers["bare"] = (bare_command("bare_app:create_app", ports["bare"]),
                       {**env, "KEYPLANE_DATA_DIR": str(tmp / "bare")})
    keyplane("mem", redis=False)
    keyplane("redis", redis=True)
    for vname, (src, flags) in variants.items():
        for server, redis in ((f"mem_{vname}", False), (f"redis_{vname}", True)):
            keyplane(server, redis=redis, src=src, gc_freeze="gc-freeze" in flags,
                     no_flush="no-flush" in flags)
    procs = {name: _start(cmd, e, tmp / f"{name}.log") for name, (cmd, e) in servers.items()}
    try:
        url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for name, proc in procs.items():
            _wait_ready(url[name] + "/healthz", proc)
        keys = {name: _make_keys(url[name]) for name in servers if name != "bare"}
        bare_body = keys["mem"]["plain"]
        status, _ = _call("POST", url["bare"] + "/v1/bench/bare", bare_body)
        assert status == 200, status

        verify = "/v1/keys/verify"
        targets = {
            "bare": (url["bare"] + "/v1/bench/bare", bare_body),
            "plain": (url["mem"] + verify, keys["mem"]["plain"]),
            "metered_mem": (url["mem"] + verify, keys["mem"]["metered"]),
            "metered_redis": (url["redis"] + verify, keys["redis"]["metered"]),
        }
        server_of = {"bare": "bare", "plain": "mem", "metered_mem": "mem", "metered_redis": "redis"}
        for vname in variants:
            mem, red = f"mem_{vname}", f"redis_{vname}"
            targets |= {
                f"plain_{vname}": (url[mem] + verify, keys[mem]["plain"]),
                f"metered_mem_{vname}": (url[mem] + verify, keys[mem]["metered"]),
                f"metered_redis_{vname}": (url[red] + verify, keys[red]["metered"]),
            }
            server_of |= {f"plain_{vname}": mem, f"metered_mem_{vname}": mem,
                          f"metered_redis_{vname}": red}
        if args.only:
            wanted = set(args.only.split(",")) | {"bare"}
            targets = {k: v for k, v in targets.items() if k in wanted}
        scripts = {name: (u, _script(tmp, name, body)) for name, (u, body) in targets.items()}
        print(f"keyplane serve (1 worker, SQLite); wrk -t{args.threads} -c{args.connections} "
              f"-d{duration}s; {args.rounds} rounds; redis {args.redis}", file=sys.stderr)
        for name, (u, script) in scripts.items():  # warm-up: imports, caches, connections
            _wrk(u, script, duration=2, connections=args.connections, threads=args.threads)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in scripts}
        for r in range(args.rounds):
            # Every other round in reverse order, so that a load rising or falling over a
            # round weighs on plain and metered alike, not always on the one that runs later.
            order = list(scripts.items())
            for name, (u, script) in order if r % 2 == 0 else reversed(order):
                pid = procs[server_of[name]].pid
                cpu_before = _cpu(pid)
                res = _wrk(u, script, duration=duration, connections=args.connections,
                           threads=args.threads)
                # Let the server write what this run recorded before the next run starts: its
                # usage flush (every KEYPLANE_USAGE_FLUSH_SECONDS) then counts here, with the
                # verifications that made it, not against the next target on the same server.
                time.sleep(args.settle)
                cpu_after = _cpu(pid)
                # server CPU per request: the whole process tree, and its busiest thread (the
                # event loop; the rest is the usage flush thread, aiosqlite's, granian's)
                total, loop = _cpu_spent(cpu_before, cpu_after)
                res["cpu_us"] = total / res["requests"] * 1e6
                res["loop_cpu_us"] = loop / res["requests"] * 1e6
                runs[name].append(res)
                print(f"  round {r + 1} {name:<21} {res['rps']:9.0f} req/s  p50 {res['p50']:>8}  "
                      f"p99 {res['p99']:>8}  cpu {res['cpu_us']:5.1f} µs/req (loop "
                      f"{res['loop_cpu_us']:5.1f})  non-2xx {res['non_2xx']} {res['socket_errors']}",
                      file=sys.stderr)
        for server in keys:
            if any(t.startswith("metered") and server_of[t] == server for t in scripts):
                spent = _check_metered(url[server], keys[server]["metered"])
                print(f"  {server}: metered key still VALID, {spent:,} credits spent", file=sys.stderr)
        logs = {name: (tmp / f"{name}.log").read_text(errors="replace") for name in servers}
    finally:
        for p in procs.values():
            _stop(p)
        shutil.rmtree(tmp, ignore_errors=True)

    med = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
    cpu = {name: statistics.median(r["cpu_us"] for r in rs) for name, rs in runs.items()}
    loop_cpu = {name: statistics.median(r["loop_cpu_us"] for r in rs) for name, rs in runs.items()}
    print()
    print(f"{'target':<22}{'req/s (median)':>15}  {'×bare':>6}  {'p50':>8}  {'p99':>8}  "
          f"{'cpu µs/req':>10}  {'loop µs/req':>11}")
    for name in runs:
        mid = sorted(runs[name], key=lambda r: r["rps"])[len(runs[name]) // 2]
        print(f"{name:<22}{med[name]:>15,.0f}  {med[name] / med['bare']:6.2f}  {mid['p50']:>8}  "
              f"{mid['p99']:>8}  {cpu[name]:10.1f}  {loop_cpu[name]:11.1f}")
    summary: dict[str, Any] = {}
    for suffix in ("", *(f"_{v}" for v in variants)):
        plain = "plain" + suffix
        if plain not in runs:
            continue
        for metered in ("metered_mem", "metered_redis"):
            m = metered + suffix
            if m not in runs:
                continue
            per_round = [p["rps"] / q["rps"] - 1 for p, q in zip(runs[plain], runs[m], strict=True)]
            over = statistics.median(per_round)
            cpu_over = cpu[m] / cpu[plain] - 1
            summary[m] = {"overhead": over, "per_round": per_round,
                          "throughput_lost": 1 - med[m] / med[plain], "cpu_overhead": cpu_over}
            print(f"{m} vs {plain}: overhead {over:+.1%} per request (rounds "
                  f"{', '.join(f'{x:+.1%}' for x in per_round)}; goal ≤ {GOALS[metered]:.0%}), "
                  f"throughput {med[m] / med[plain]:.2f}× plain; server CPU {cpu_over:+.1%}")
        if plain in med:
            print(f"{plain} / bare: {med[plain] / med['bare']:.2f} (goal ≥ 0.50)")
    for vname in variants:
        for name in ("plain", "metered_mem", "metered_redis"):
            other = f"{name}_{vname}"
            if name in med and other in med:
                print(f"{name} this tree / {vname}: {med[name] / med[other]:.2f} req/s, "
                      f"{cpu[name] / cpu[other]:.2f} CPU per request")
    if any(r["non_2xx"] for rs in runs.values() for r in rs):
        print("WARNING: some responses were not 2xx", file=sys.stderr)
    for name, text in logs.items():
        if any(w in text for w in ("Traceback", "ERROR", "failed", "unavailable")):
            print(f"WARNING: the {name} server logged errors:\n{text[-1500:]}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "median": med, "cpu_us": cpu,
                                               "loop_cpu_us": loop_cpu, "summary": summary},
                                              indent=2))


if __name__ == "__main__":
    main()
