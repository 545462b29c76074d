"""µs per verification, plain and metered, through the whole ASGI app in process.

No sockets and no server: what the metered path costs per request, with little noise.
Builds `keyplane.app.create_app` twice (SQLite in a temp dir each, lifespans run, so the
usage recorder flushes in the background as it does in `keyplane serve`): one app on the
in-memory limiter, one with `KEYPLANE_REDIS_URL` (unless `--no-redis`). It puts the bare
endpoint of `bare_app.py` before the verify route and creates keys through `KeyService`:

- `bare`           `/v1/bench/bare`: middleware + routing + reading the body + fixed JSON;
- `plain`          a key with no limits and no credits;
- `limits_mem`     two rate limits that never refuse (1e9/hour, 1e9/day), no credits;
- `credits`        a large credit balance, no limits (a store write per verification);
- `metered_mem`    both (the HTTP benchmark's key (b));
- `metered_redis`  both, on the Redis limiter (key (c)).

Targets alternate call by call in blocks (`--calls` a round, `--rounds` rounds), and the
script prints µs per request (median over rounds) and each target minus `plain`.
`--profile TARGET` then runs cProfile over that target's calls. `--compare-src DIR` runs
this script alternately from this tree and with DIR (a `src` directory) first on
PYTHONPATH, `--repeat` times each, and compares the medians: a before/after from one run.

Run: .venv/bin/python bench/metering_asgi.py [--rounds 7] [--calls 5000] [--profile metered_mem]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT_KEY = "bench-root-" + "r" * 40
TARGETS = ("bare", "plain", "limits_mem", "credits", "metered_mem", "metered_redis")


def _limits() -> tuple[Any, ...]:
    from keyplane.keys.model import RateLimit

    return (RateLimit("per_hour", 10**9, 3600), RateLimit("per_day", 10**9, 86400))


def _credits() -> Any:
    from keyplane.keys.model import Credits

    return Credits(10**15)


async def _app(tmp: Path, redis_url: str | None) -> Any:
    from starlette.routing import Route

    sys.path.insert(0, str(BENCH))
    from bare_app import BareEndpoint

    from keyplane.app import create_app
    from keyplane.config import load_settings

    settings = load_settings({}, data_dir=tmp, root_key=ROOT_KEY, secret_key="bench-secret-" + "s" * 40,
                             redis_url=redis_url)
    app = create_app(settings)
    at = next(i for i, r in enumerate(app.router.routes) if getattr(r, "path", "") == "/v1/keys/verify")
    app.router.routes.insert(at, Route("/v1/bench/bare", BareEndpoint(), methods=["POST"]))
    return app


async def _key(app: Any, api_id: str, **config: Any) -> bytes:
    from keyplane.audit.events import SYSTEM
    from keyplane.keys.model import KeyConfig

    issued = await app.state.services.keys.issue_key(SYSTEM, api_id, KeyConfig(
        name="bench key", owner_id="team_42", permissions=("documents.read", "documents.write"),
        metadata={"plan": "pro"}, **config))
    return json.dumps({"key": issued.key}).encode()


def _scope(path: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 50000), "scheme": "http",
        "method": "POST", "root_path": "", "path": path, "raw_path": path.encode(),
        "query_string": b"", "state": {},
        "headers": [(b"host", b"127.0.0.1:8080"), (b"user-agent", b"bench"),
                    (b"content-type", b"application/json"),
                    (b"authorization", f"Bearer {ROOT_KEY}".encode()),
                    (b"content-length", str(len(body)).encode())],
    }


async def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    targets = [t for t in TARGETS if not (args.no_redis and t == "metered_redis")]
    with tempfile.TemporaryDirectory(prefix="kp-metering-asgi-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            return await _measure(args, targets, Path(tmp), stack)


async def _measure(args: argparse.Namespace, targets: list[str], tmp: Path,
                   stack: contextlib.AsyncExitStack) -> dict[str, list[float]]:
    from asgi_lifespan import LifespanManager

    from keyplane.audit.events import SYSTEM

    mem = await _app(tmp / "mem", None)
    await stack.enter_async_context(LifespanManager(mem))
    api = await mem.state.services.apis.create_api(SYSTEM, "bench", "sk_bench")
    calls: dict[str, tuple[Any, str, bytes]] = {
        "bare": (mem, "/v1/bench/bare", await _key(mem, api.id)),
        "plain": (mem, "/v1/keys/verify", await _key(mem, api.id)),
        "limits_mem": (mem, "/v1/keys/verify", await _key(mem, api.id, ratelimits=_limits())),
        "credits": (mem, "/v1/keys/verify", await _key(mem, api.id, credits=_credits())),
        "metered_mem": (mem, "/v1/keys/verify",
                        await _key(mem, api.id, ratelimits=_limits(), credits=_credits())),
    }
    if "metered_redis" in targets:
        red = await _app(tmp / "redis", args.redis)
        await stack.enter_async_context(LifespanManager(red))
        rapi = await red.state.services.apis.create_api(SYSTEM, "bench", "sk_bench")
        calls["metered_redis"] = (red, "/v1/keys/verify",
                                  await _key(red, rapi.id, ratelimits=_limits(), credits=_credits()))
    sent: list[dict[str, Any]] = []

    async def send(m: dict[str, Any]) -> None:
        sent.append(m)

    async def run(name: str, n: int) -> float:
        app, path, body = calls[name]
        message = {"type": "http.request", "body": body, "more_body": False}

        async def receive() -> dict[str, Any]:
            return message

        t = time.perf_counter_ns()
        for _ in range(n):
            sent.clear()
            await app(_scope(path, body), receive, send)
        return (time.perf_counter_ns() - t) / n / 1000

    for name in targets:
        await run(name, 200)
        assert sent[0]["status"] == 200, (name, sent)
        if name != "bare":
            answer = json.loads(sent[1]["body"])
            assert answer["code"] == "VALID", (name, answer)
            assert (answer["credits_remaining"] is not None) == (name in ("credits", "metered_mem", "metered_redis"))
            assert (len(answer["ratelimits"]) == 2) == (name in ("limits_mem", "metered_mem", "metered_redis"))
    us: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(args.rounds):
        for name in targets:
            us[name].append(await run(name, args.calls))
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        await run(args.profile, args.calls)
        profile.disable()
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(args.top)
    return us


def report(us: dict[str, list[float]], label: str = "") -> dict[str, float]:
    med = {name: statistics.median(v) for name, v in us.items()}
    print(f"{label}{'target':<15}{'µs/request':>11}  {'− plain':>8}  rounds")
    for name, v in us.items():
        extra = f"{med[name] - med['plain']:+8.1f}" if name != "bare" else f"{'':>8}"
        print(f"{label}{name:<15}{med[name]:11.1f}  {extra}  {', '.join(f'{x:.1f}' for x in v)}")
    return med


def compare(args: argparse.Namespace, argv: list[str]) -> None:
    child = [a for a in argv if not a.startswith("--compare-src") and a != args.compare_src]
    child = [a for i, a in enumerate(child) if not (a.startswith("--repeat") or
                                                     (i and child[i - 1] == "--repeat"))]
    trees = {"after": os.environ.get("PYTHONPATH", ""),
             "before": str(Path(args.compare_src).resolve())}
    results: dict[str, list[dict[str, float]]] = {"after": [], "before": []}
    for i in range(args.repeat):
        for tree, pythonpath in trees.items():
            out = subprocess.run(
                [sys.executable, __file__, *child, "--json-out", "-"],
                env={**os.environ, "PYTHONPATH": pythonpath}, capture_output=True, text=True,
                timeout=900, check=True).stdout
            med = json.loads(out.strip().splitlines()[-1])
            results[tree].append(med)
            print(f"  {tree} #{i + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in med.items()),
                  file=sys.stderr)
    print(f"{'target':<15}{'after µs':>9}{'before µs':>10}{'after/before':>13}{'after−plain':>12}{'before−plain':>13}")
    for name in results["after"][0]:
        a = statistics.median(r[name] for r in results["after"])
        b = statistics.median(r[name] for r in results["before"])
        pa = statistics.median(r["plain"] for r in results["after"])
        pb = statistics.median(r["plain"] for r in results["before"])
        print(f"{name:<15}{a:9.1f}{b:10.1f}{a / b:13.2f}{a - pa:12.1f}{b - pb:13.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5_000, help="requests a round and target")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--profile", choices=TARGETS)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--compare-src", metavar="DIR")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tree with --compare-src")
    parser.add_argument("--json-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.redis.startswith(("redis://127.0.0.1", "redis://localhost")):
        raise SystemExit("loopback Redis only")
    if args.compare_src:
        compare(args, sys.argv[1:])
        return
    import uvloop

    us = uvloop.run(measure(args))
    if args.json_out:
        print(json.dumps({k: statistics.median(v) for k, v in us.items()}))
    else:
        report(us)


if __name__ == "__main__":
    main()
