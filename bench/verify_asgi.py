"""µs per request through the whole ASGI app, in process: no sockets, no server, little noise.

Builds `keyplane.app.create_app` (SQLite in a temp dir, lifespan run, so the usage writer
thread runs as in `keyplane serve`), creates a key, then calls the apps directly with a
prepared scope, alternating round by round:

- floor   bench/floor_app.py (the floor of bench/defaults.py): a bare Starlette app,
          `await request.json()` → `JSONResponse`;
- verify  `/v1/keys/verify` with a VALID key (root-key authentication included);
- with `--access-log`: verify_logged, verify with the access log of `keyplane serve`
  (http/access_log.py: noted on the loop, written by its thread to a file here);
- with `--oauth`: token (client_credentials, Basic, an ES256 JWT) and introspect (of such
  a JWT, the client's own Basic auth). Run it pinned (`taskset -c 0`) to sign on the loop
  as `keyplane serve` does on one core (oauth/signing_thread.py).

Each is reported as wall µs and CPU µs (`time.process_time`, every thread of the process:
the usage writer's work counts) per request; CPU is the steadier figure on a shared
machine. No server and no sockets: over HTTP both pay the same ~40 µs more, so the ratio
here is lower than over HTTP. With `--profile` it then profiles verify calls with cProfile
and prints the top functions (by own time).

Run: taskset -c 0 .venv/bin/python bench/verify_asgi.py [--oauth] [--profile verify]
"""

from __future__ import annotations

import argparse
import base64
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
from keyplane.http.access_log import AccessLog
from keyplane.keys.model import KeyConfig

ROOT_KEY = "bench-root-" + "r" * 40


def _scope(path: str, body: bytes, content_type: bytes, authorization: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 50000), "scheme": "http",
        "method": "POST", "root_path": "", "path": path, "raw_path": path.encode(),
        "query_string": b"", "state": {},
        "headers": [(b"host", b"127.0.0.1:8080"), (b"user-agent", b"bench"),
                    (b"content-type", content_type),
                    (b"authorization", authorization.encode()),
                    (b"content-length", str(len(body)).encode())],
    }


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="kp-asgi-") as tmp:
        await _measure(args, Path(tmp))


Target = tuple[Any, str, bytes, bytes, str]  # app, path, body, content type, Authorization


async def _call(target: Target, sent: list[dict[str, Any]]) -> None:
    app, path, body, content_type, authorization = target
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(m: dict[str, Any]) -> None:
        sent.append(m)

    await app(_scope(path, body, content_type, authorization), receive, send)


async def _oauth_targets(app: Any) -> dict[str, Target]:
    """A client_credentials client (ES256 JWTs, Basic), made through the API, and a token."""
    sent: list[dict[str, Any]] = []
    client_body = json.dumps({
        "name": "bench client", "grant_types": ["client_credentials"], "scopes": ["documents.read"],
        "audiences": ["https://api.example.com"], "token_format": "jwt",
        "token_endpoint_auth_method": "client_secret_basic", "access_token_ttl_seconds": 86_400})
    await _call((app, "/v1/clients", client_body.encode(), b"application/json", f"Bearer {ROOT_KEY}"), sent)
    client = json.loads(sent[1]["body"])
    basic = "Basic " + base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    form = b"application/x-www-form-urlencoded"
    token_target = (app, "/oauth/token", b"grant_type=client_credentials", form, basic)
    sent.clear()
    await _call(token_target, sent)
    token = json.loads(sent[1]["body"])["access_token"]
    return {"token": token_target,
            "introspect": (app, "/oauth/introspect", f"token={token}".encode(), form, basic)}


class _Logged:
    """The app with the access log `keyplane serve` writes (to a file here), for this call."""

    def __init__(self, app: Any, access_log: AccessLog) -> None:
        self.app, self.access_log = app, access_log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.app.access_log = self.access_log
        try:
            await self.app(scope, receive, send)
        finally:
            self.app.access_log = None


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
        root = f"Bearer {ROOT_KEY}"
        targets: dict[str, Target] = {
            "floor": (floor_app, "/", body, b"application/json", root),
            "verify": (app, "/v1/keys/verify", body, b"application/json", root)}
        if args.oauth:
            targets.update(await _oauth_targets(app))
        access_log = None
        if args.access_log:
            access_log = AccessLog((tmp / "access.log").open("wb"))
            access_log.start()
            targets["verify_logged"] = (_Logged(app, access_log), "/v1/keys/verify", body,
                                        b"application/json", root)
        sent: list[dict[str, Any]] = []

        async def run(name: str, n: int) -> tuple[float, float]:
            target = targets[name]
            t, cpu = time.perf_counter_ns(), time.process_time_ns()
            for _ in range(n):
                sent.clear()
                await _call(target, sent)
            return ((time.perf_counter_ns() - t) / n / 1000, (time.process_time_ns() - cpu) / n / 1000)

        for name in targets:
            await run(name, 1)
            assert sent[0]["status"] == 200, (name, sent)
            if name == "verify":
                assert json.loads(sent[1]["body"])["code"] == "VALID", sent
        gc.collect()
        gc.freeze()  # as `keyplane serve` does once its services are up (app.py)
        us: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name in targets:
                us[name].append(await run(name, args.calls))
        med = {name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
               for name, r in us.items()}
        floor_cpu = med["floor"][1]
        for name, (wall, cpu) in med.items():
            print(f"{name:<11} {wall:6.1f} µs/request, {cpu:6.1f} µs CPU, floor ÷ it {floor_cpu / cpu:4.2f}"
                  f"  (CPU by round: {', '.join(f'{c:.1f}' for _, c in us[name])})")
        if access_log is not None:
            access_log.close()
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            await run(args.profile, args.calls)
            profile.disable()
            pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10_000, help="requests a round")
    parser.add_argument("--oauth", action="store_true", help="also the token and introspection endpoints")
    parser.add_argument("--access-log", action="store_true", help="also verify_logged: verify "
                        "with the access log `keyplane serve` writes by default (to a file)")
    parser.add_argument("--profile", metavar="TARGET", help="then cProfile this target")
    parser.add_argument("--top", type=int, default=30)
    uvloop.run(main(parser.parse_args()))
