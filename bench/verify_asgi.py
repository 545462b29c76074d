"""µs per request through the whole ASGI app, in process: no sockets, no server, little noise.

Builds `keyplane.app.create_app` (SQLite in a temp dir, lifespan run), puts the bare
endpoint of `bare_app.py` just before the verify route as `verify_http.py` does, creates a
key, then
calls the app directly with a prepared scope, alternating endpoints round by round:

- bare    `/v1/bench/bare`: middleware + routing + reading the body + a fixed answer;
- verify  `/v1/keys/verify` with a VALID key (root-key authentication included).

`verify - bare` is what verification itself costs per request. With `--profile` it then
profiles verify calls with cProfile and prints the top functions (by own time).

Run: .venv/bin/python bench/verify_asgi.py [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
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
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bare_app import BareEndpoint

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
    at = next(i for i, r in enumerate(app.router.routes) if getattr(r, "path", "") == "/v1/keys/verify")
    app.router.routes.insert(at, Route("/v1/bench/bare", BareEndpoint(), methods=["POST"]))
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

        async def run(path: str, n: int) -> float:
            t = time.perf_counter_ns()
            for _ in range(n):
                sent.clear()
                await app(_scope(app, path, body), receive, send)
            return (time.perf_counter_ns() - t) / n / 1000

        for path in ("/v1/bench/bare", "/v1/keys/verify"):
            await run(path, 1)
            assert sent[0]["status"] == 200, sent
        assert json.loads(sent[1]["body"])["code"] == "VALID", sent
        us: dict[str, list[float]] = {"bare": [], "verify": []}
        for _ in range(args.rounds):
            us["bare"].append(await run("/v1/bench/bare", args.calls))
            us["verify"].append(await run("/v1/keys/verify", args.calls))
        bare, verify = statistics.median(us["bare"]), statistics.median(us["verify"])
        print(f"bare    {bare:6.1f} µs/request  (rounds: {', '.join(f'{x:.1f}' for x in us['bare'])})")
        print(f"verify  {verify:6.1f} µs/request  (rounds: {', '.join(f'{x:.1f}' for x in us['verify'])})")
        print(f"verify - bare = {verify - bare:.1f} µs; bare / verify = {bare / verify:.2f}")
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            await run("/v1/keys/verify", args.calls)
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10_000, help="requests a round")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    uvloop.run(main(parser.parse_args()))
