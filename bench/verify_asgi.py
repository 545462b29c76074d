"""µs per request through the whole ASGI app, in process: no sockets, no server, little noise.

Builds `keyplane.app.create_app` (SQLite in a temp dir, lifespan run, so the usage writer
thread runs as in `keyplane serve`), creates a key, then calls the apps directly with a
prepared scope, alternating round by round:

- floor   bench/floor_app.py (the floor of bench/defaults.py): a bare Starlette app,
          `await request.json()` → `JSONResponse`;
- verify  `/v1/keys/verify` with a VALID key (root-key authentication included).

Each is reported as wall µs and CPU µs (`time.process_time`, every thread of the process:
the usage writer's work counts) per request; CPU is the steadier figure on a shared
machine. No server and no sockets: over HTTP both pay the same ~40 µs more, so the ratio
here is lower than over HTTP. With `--profile` it then profiles verify calls with cProfile
and prints the top functions (by own time).

Run: .venv/bin/python bench/verify_asgi.py [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from asgi_lifespan import LifespanManager

sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor_app import app as floor_app

from keyplane.app import create_app
from keyplane.audit.events import SYSTEM
from keyplane.config import load_settings
from keyplane.keys.model import KeyConfig

ROOT_KEY = "bench-root-" + "r" * 40


def _scope(app: Any, path: str, body: bytes) -> dict[str, Any]:
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


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="kp-asgi-") as tmp:
        await _measure(args, Path(tmp))


async def _measure(args: argparse.Namespace, tmp: Path) -> None:
    settings = load_settings({}, data_dir=tmp, root_key=ROOT_KEY,
                             secret_key="bench-secret-" + "s" * 40)
    app = create_app(settings)
    async with LifespanManager(app):
        services = app.state.services
        api = await services.apis.create_api(SYSTEM, "bench", "sk_bench")
        issued = await services.keys.issue_key(SYSTEM, api.id, KeyConfig(
            name="bench key", owner_id="team_42", permissions=("documents.read", "documents.write"),
            metadata={"plan": "pro"}))
        body = json.dumps({"key": issued.key}).encode()
        message = {"type": "http.request", "body": body, "more_body": False}
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return message

        async def send(m: dict[str, Any]) -> None:
            sent.append(m)

        apps = {"floor": (floor_app, "/"), "verify": (app, "/v1/keys/verify")}
        gc.collect()
        gc.freeze()  # as `keyplane serve` does once its services are up (app.py)

        async def run(name: str, n: int) -> tuple[float, float]:
            target, path = apps[name]
            t, cpu = time.perf_counter_ns(), time.process_time_ns()
            for _ in range(n):
                sent.clear()
                await target(_scope(target, path, body), receive, send)
            return ((time.perf_counter_ns() - t) / n / 1000, (time.process_time_ns() - cpu) / n / 1000)

        for name in apps:
            await run(name, 1)
            assert sent[0]["status"] == 200, sent
        assert json.loads(sent[1]["body"])["code"] == "VALID", sent
        us: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
        for _ in range(args.rounds):
            for name in apps:
                us[name].append(await run(name, args.calls))
        med = {name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
               for name, r in us.items()}
        for name, (wall, cpu) in med.items():
            print(f"{name:<7} {wall:6.1f} µs/request, {cpu:6.1f} µs CPU  (CPU by round: "
                  f"{', '.join(f'{c:.1f}' for _, c in us[name])})")
        print(f"floor ÷ verify: wall {med['floor'][0] / med['verify'][0]:.2f}, "
              f"CPU {med['floor'][1] / med['verify'][1]:.2f}")
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            await run("verify", args.calls)
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10_000, help="requests a round")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    uvloop.run(main(parser.parse_args()))
