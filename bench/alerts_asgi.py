"""Verification cost with alert detection on and off, through the whole ASGI app in process.

Two apps (SQLite in a temp dir each, lifespans run, so the usage recorder flushes and the
detectors read its batches as in `keyplane serve`): `KEYPLANE_ALERTS_ENABLED=true` and
`false`. Each serves the same mix: valid keys, with every 20th call an unknown key from one
of 1,000 addresses and every 50th a revoked key (so the detectors and alert upserts have
work). Targets alternate in blocks (`--calls` a round, `--rounds` rounds); the script
prints µs per verification (median over rounds) and the ratio on/off. Goal: ≤ 1.05
(issue 16: detection costs the verification path less than 5 %).

Run: .venv/bin/python bench/alerts_asgi.py [--rounds 7] [--calls 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT_KEY = "bench-root-" + "r" * 40
TARGETS = ("detection_off", "detection_on")


async def _app(tmp: Path, enabled: bool) -> Any:
    from keyplane.app import create_app
    from keyplane.config import load_settings

    settings = load_settings({}, data_dir=tmp, root_key=ROOT_KEY, secret_key="bench-secret-" + "s" * 40,
                             alerts_enabled=enabled)
    return create_app(settings)


def _scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 50000), "scheme": "http",
        "method": "POST", "root_path": "", "path": "/v1/keys/verify", "raw_path": b"/v1/keys/verify",
        "query_string": b"", "state": {},
        "headers": [(b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"),
                    (b"authorization", f"Bearer {ROOT_KEY}".encode()),
                    (b"content-length", str(len(body)).encode())],
    }


async def _bodies(app: Any) -> list[bytes]:
    from keyplane.audit.events import SYSTEM
    from keyplane.keys.model import KeyConfig

    services = app.state.services
    api = await services.apis.create_api(SYSTEM, "bench", "sk_bench")
    valid = (await services.keys.issue_key(SYSTEM, api.id, KeyConfig(name="bench"))).key
    revoked = await services.keys.issue_key(SYSTEM, api.id, KeyConfig(name="gone"))
    await services.keys.revoke_key(SYSTEM, revoked.stored.id)
    bodies = []
    for i in range(1000):
        if i % 20 == 0:
            body = {"key": f"sk_bench_unknown{i:06d}xxxxxxxxxxxxxx", "ip": f"198.51.{i // 250}.{i % 250}"}
        elif i % 50 == 1:
            body = {"key": revoked.key, "ip": "203.0.113.1"}
        else:
            body = {"key": valid, "ip": "192.0.2.1"}
        bodies.append(json.dumps(body).encode())
    return bodies


async def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    from asgi_lifespan import LifespanManager

    with tempfile.TemporaryDirectory(prefix="kp-alerts-asgi-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            apps = {name: await _app(Path(tmp) / name, name == "detection_on") for name in TARGETS}
            for app in apps.values():
                await stack.enter_async_context(LifespanManager(app))
            bodies = {name: await _bodies(app) for name, app in apps.items()}
            sent: list[dict[str, Any]] = []

            async def send(m: dict[str, Any]) -> None:
                sent.append(m)

            async def run(name: str, n: int) -> float:
                app, mix = apps[name], bodies[name]
                t = time.perf_counter_ns()
                for i in range(n):
                    body = mix[i % len(mix)]
                    message = {"type": "http.request", "body": body, "more_body": False}

                    async def receive(message: dict[str, Any] = message) -> dict[str, Any]:
                        return message

                    sent.clear()
                    await app(_scope(body), receive, send)
                    if i % 500 == 499:
                        await asyncio.sleep(0)  # let the background flushes run, as a server does
                return (time.perf_counter_ns() - t) / n / 1000

            for name in TARGETS:
                await run(name, 500)
            us: dict[str, list[float]] = {name: [] for name in TARGETS}
            for _ in range(args.rounds):
                for name in TARGETS:
                    us[name].append(await run(name, args.calls))
            opened = await apps["detection_on"].state.services.alerts.list_alerts(
                type=None, state=None, since=None, before=None, limit=1000)
            print(f"alerts opened with detection on: {len(opened.items)}", file=sys.stderr)
            return us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    us = asyncio.run(measure(args))
    med = {name: statistics.median(v) for name, v in us.items()}
    print(f"{'target':<15}{'µs/verify':>10}  rounds")
    for name, v in us.items():
        print(f"{name:<15}{med[name]:10.1f}  {', '.join(f'{x:.1f}' for x in v)}")
    print(f"ratio on/off: {med['detection_on'] / med['detection_off']:.3f} (goal ≤ 1.05)")


if __name__ == "__main__":
    main()
