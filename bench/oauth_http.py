"""The OAuth endpoints over real HTTP against a bare endpoint of the same stack.

Starts, on 127.0.0.1, one `keyplane serve` (one worker, a temp data dir, KEYPLANE_ROOT_KEY
set) and one uvicorn server for the bare endpoint (`bench/bare_app.py`, under the options
`keyplane serve` uses). Through the API it registers a confidential client
(client_credentials, one scope, one audience, token_format jwt, client_secret_basic) and
gets one token; then loads each endpoint with wrk (Lua scripts, 32 connections,
alternating endpoints round by round) and reports req/s and ratios to the bare endpoint:

- token       POST /oauth/token, grant_type=client_credentials, Basic auth (an ES256 JWT each)
- introspect  POST /oauth/introspect of that token, Basic auth (the client's own)
- jwks        GET /.well-known/jwks.json
- bare        POST /v1/bench/bare (bare_app.py: a plain ASGI route, fixed JSON), sent the
              token request as is (same body, headers)
- bare_tail   the same bare endpoint appended at the end of the routing table, where the
              OAuth routes are (every route before them is tried first): the floor for a
              route in the OAuth endpoints' position

Goals (the issue): token ≥ 0.30 × bare, introspect ≥ 0.40 × bare.

`--compare-src DIR` also serves keyplane from another source tree (first on PYTHONPATH,
e.g. an export of the code before a change) and measures its token, introspect
and jwks endpoints in the same rounds. `--profile DIR` records py-spy (collapsed stacks) of the
keyplane server while wrk loads the token and the introspect endpoints, after the rounds,
and prints the top frames.

`--asgi` measures µs per request through the whole ASGI app in process instead (no
sockets, little noise; the same client, token and bare routes), each round in a fresh
subprocess, alternating with `--compare-src` when given; `--asgi --cprofile` profiles the
token and introspect endpoints with cProfile in process.

Run: .venv/bin/python bench/oauth_http.py [--duration 10] [--rounds 3]
     .venv/bin/python bench/oauth_http.py --asgi [--compare-src DIR] [--cprofile]
`--postgres URL` serves keyplane on a PostgreSQL database of its own (verify_http.py); the
audit catch-up check reads SQLite and is skipped then. KP_BENCH_KEEP_TMP=1 keeps the temp
dir (the servers' logs).

Needs wrk (apt-get install -y wrk); py-spy for --profile. Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import collections
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
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
    _pg_database,
    _pg_drop,
    _start,
    _stop,
    _wait_ready,
    _wrk,
    bare_command,
)

SCOPE = "documents.read"
AUDIENCE = "https://api.example.com"
TAIL_PATH = "/oauth/bench/bare"
GOALS = {"token": 0.30, "introspect": 0.40}

LUA = """\
wrk.method = {method}
wrk.body = {body}
{headers}
"""


def create_bare_app() -> Any:
    """bare_app.py's app, plus its bare endpoint once more at the end of the routing table
    (where `oauth.routes()` are), for uvicorn's --factory."""
    from bare_app import BareEndpoint, create_app
    from starlette.routing import Route

    app = create_app()
    app.router.routes.append(Route(TAIL_PATH, BareEndpoint(), methods=["POST"]))
    return app


def _script(tmp: Path, name: str, method: str, body: str | None, headers: dict[str, str]) -> Path:
    path = tmp / f"{name}.lua"
    lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    path.write_text(LUA.format(method=json.dumps(method), body=json.dumps(body) if body else "nil",
                               headers=lines))
    return path


def _form_call(url: str, body: str, basic: str) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body.encode(), method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    req.add_header("Authorization", basic)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _setup(base: str) -> dict[str, str]:
    """A confidential client registered through the API, one token of it, the Basic header."""
    status, client = _call("POST", base + "/v1/clients", {
        "name": "bench client", "grant_types": ["client_credentials"], "scopes": [SCOPE],
        "audiences": [AUDIENCE], "token_format": "jwt",
        "token_endpoint_auth_method": "client_secret_basic",
        # Long enough that the introspected token stays active through every round.
        "access_token_ttl_seconds": 86_400})
    assert status == 201, (status, client)
    basic = "Basic " + base64.b64encode(
        f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    status, answer = _form_call(base + "/oauth/token", "grant_type=client_credentials", basic)
    assert status == 200 and answer["token_type"] == "Bearer", (status, answer)
    header = json.loads(base64.urlsafe_b64decode(answer["access_token"].split(".")[0] + "=="))
    assert header["alg"] == "ES256" and header["typ"] == "at+jwt", header
    token = answer["access_token"]
    status, info = _form_call(base + "/oauth/introspect", f"token={token}", basic)
    assert status == 200 and info["active"] is True and info["scope"] == SCOPE, (status, info)
    return {"basic": basic, "token": token}


def _scripts(tmp: Path, name: str, creds: dict[str, str]) -> dict[str, Path]:
    form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": creds["basic"]}
    return {
        "token": _script(tmp, f"{name}-token", "POST", "grant_type=client_credentials", form),
        "introspect": _script(tmp, f"{name}-introspect", "POST", f"token={creds['token']}", form),
        "jwks": _script(tmp, f"{name}-jwks", "GET", None, {}),
        "bare": _script(tmp, f"{name}-bare", "POST", "grant_type=client_credentials", form),
    }


def _ms(latency: str) -> float:
    """A wrk latency ("850.00us", "1.20ms", "1.50s") in milliseconds."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", latency)
    if found is None:
        return float("nan")
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[found.group(2)]


def _cpu_busy(seconds: float = 1.0) -> float:
    """The share of the machine's CPU time spent busy over `seconds` (from /proc/stat)."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, sum(values)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(1, total1 - total0)


MAX_WAIT = 900.0  # --max-wait


def _wait_for_quiet(limit: float | None = None, max_busy: float = 0.25) -> None:
    """Another engineer's benchmark may be loading this machine: wait until no wrk runs and
    the CPUs are mostly idle (our servers are idle between runs), at most `limit` seconds."""
    limit = MAX_WAIT if limit is None else limit
    deadline = time.monotonic() + limit
    waited = False
    while time.monotonic() < deadline:
        wrk_runs = subprocess.run(["pgrep", "-x", "wrk"], capture_output=True).returncode == 0
        if not wrk_runs:
            busy = _cpu_busy()
            if busy < max_busy:
                if waited:
                    print("  (quiet again; going on)", file=sys.stderr)
                return
        if not waited:
            print("  waiting: another wrk is running" if wrk_runs else
                  "  waiting: the CPUs are busy with something else", file=sys.stderr)
            waited = True
        time.sleep(2)
    print(f"  WARNING: still not quiet after {limit:.0f} s; measuring anyway", file=sys.stderr)


def _tokens_issued(base: str) -> int:
    """`keyplane_tokens_issued_total` of the server (Prometheus text)."""
    import urllib.request

    with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    found = re.search(r'^keyplane_tokens_issued_total\{grant_type="client_credentials"\} ([\d.e+]+)$',
                      text, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


def _audit_catch_up(base: str, db: Path, *, limit: float = 60) -> tuple[int, int, float | None]:
    """Tokens issued, `token.issue` events stored, and the seconds the audit log took to
    hold all of them once the load stopped (None: not within `limit`)."""
    import sqlite3

    issued = _tokens_issued(base)
    started = time.monotonic()
    stored = 0
    while time.monotonic() - started < limit:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            (stored,) = conn.execute(
                "SELECT count(*) FROM audit_events WHERE action = 'token.issue'").fetchone()
        finally:
            conn.close()
        if stored >= issued:
            return issued, stored, time.monotonic() - started
        time.sleep(0.5)
    return issued, stored, None


def _profile(pid: int, url: str, script: Path, out: Path, *, seconds: int, connections: int) -> None:
    _wait_for_quiet()
    load = subprocess.Popen(["wrk", "-t1", f"-c{connections}", f"-d{seconds + 4}s", "-s", str(script), url],
                            stdout=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        subprocess.run([str(Path(PYTHON).parent / "py-spy"), "record", "-p", str(pid), "-d", str(seconds),
                        "-r", "400", "-f", "raw", "-o", str(out), "--nonblocking"],
                       check=True, capture_output=True, timeout=seconds + 60)
    finally:
        load.wait(timeout=seconds + 30)


def summarize_profile(path: Path, top: int = 25) -> str:
    """Self and inclusive shares of frames in a py-spy raw (collapsed) profile."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " " + f.split("/")[-1].split(":")[0].rstrip(")")
                  if " (" in f else f for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{path.name}: {total} samples", "  self:"]
    lines += [f"    {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    lines.append("  inclusive:")
    lines += [f"    {n / total:6.1%}  {f}" for f, n in inclusive.most_common(top + 15)]
    return "\n".join(lines)


def _asgi_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 50000), "scheme": "http",
        "method": method, "root_path": "", "path": path, "raw_path": path.encode(),
        "query_string": b"", "state": {},
        "headers": [(b"host", b"127.0.0.1:8080"), (b"user-agent", b"bench"), *headers],
    }


async def _asgi_round(calls: int, cprofile: int) -> dict[str, float]:
    """One round in this process: µs per request of each endpoint, through the ASGI app."""
    import cProfile
    import pstats

    from asgi_lifespan import LifespanManager
    from bare_app import BareEndpoint
    from starlette.routing import Route

    from keyplane.app import create_app
    from keyplane.audit.events import SYSTEM
    from keyplane.config import load_settings
    from keyplane.oauth.clients import ClientFields

    with tempfile.TemporaryDirectory(prefix="kp-oauth-asgi-") as tmp:
        settings = load_settings({}, data_dir=Path(tmp), root_key=ROOT_KEY, secret_key=SECRET)
        app = create_app(settings)
        at = next(i for i, r in enumerate(app.router.routes) if getattr(r, "path", "") == "/v1/keys/verify")
        app.router.routes.insert(at, Route("/v1/bench/bare", BareEndpoint(), methods=["POST"]))
        app.router.routes.append(Route(TAIL_PATH, BareEndpoint(), methods=["POST"]))
        async with LifespanManager(app):
            services = app.state.services
            issued = await services.clients.create_client(SYSTEM, ClientFields(
                name="bench client", grant_types=("client_credentials",), scopes=(SCOPE,),
                audiences=(AUDIENCE,), token_format="jwt", auth_method="client_secret_basic",
                access_token_ttl_seconds=86_400))
            basic = ("Basic " + base64.b64encode(
                f"{issued.client.id}:{issued.secret}".encode()).decode()).encode()
            sent: list[dict[str, Any]] = []

            async def send(m: dict[str, Any]) -> None:
                sent.append(m)

            def request(method: str, path: str, body: bytes) -> Any:
                headers = [(b"accept", b"*/*")]
                if body:
                    headers += [(b"content-type", b"application/x-www-form-urlencoded"),
                                (b"authorization", basic), (b"content-length", str(len(body)).encode())]
                message = {"type": "http.request", "body": body, "more_body": False}

                async def receive() -> dict[str, Any]:
                    return message

                async def one() -> None:
                    sent.clear()
                    await app(_asgi_scope(method, path, headers), receive, send)
                return one

            form = b"grant_type=client_credentials"
            endpoints = {"bare": request("POST", "/v1/bench/bare", form),
                         "bare_tail": request("POST", TAIL_PATH, form),
                         "token": request("POST", "/oauth/token", form)}
            await endpoints["token"]()
            assert sent[0]["status"] == 200, sent
            token = json.loads(sent[1]["body"])["access_token"]
            endpoints["introspect"] = request("POST", "/oauth/introspect", f"token={token}".encode())
            endpoints["jwks"] = request("GET", "/.well-known/jwks.json", b"")
            for name, call in endpoints.items():
                await call()
                assert sent[0]["status"] == 200, (name, sent)
            assert json.loads(sent[1]["body"])["keys"], sent
            await endpoints["introspect"]()
            assert json.loads(sent[1]["body"])["active"] is True, sent
            us: dict[str, float] = {}
            for name, call in endpoints.items():
                for _ in range(min(500, calls)):  # warm
                    await call()
                t = time.perf_counter_ns()
                for _ in range(calls):
                    await call()
                us[name] = (time.perf_counter_ns() - t) / calls / 1000
            if cprofile:
                for name in ("token", "introspect"):
                    profile = cProfile.Profile()
                    profile.enable()
                    for _ in range(calls):
                        await endpoints[name]()
                    profile.disable()
                    print(f"--- cProfile: {name}, {calls} requests", file=sys.stderr)
                    stats = pstats.Stats(profile, stream=sys.stderr)
                    stats.sort_stats("tottime").print_stats(cprofile)
                    stats.sort_stats("cumtime").print_stats(cprofile)
            return us


def _asgi(args: argparse.Namespace) -> None:
    """Rounds in fresh subprocesses (this tree, and --compare-src alternating)."""
    trees = {"": None}
    if args.compare_src:
        trees["_compare"] = str(Path(args.compare_src).resolve())
    results: dict[str, list[float]] = collections.defaultdict(list)
    for r in range(args.rounds):
        for suffix, src in trees.items():
            env = {**os.environ}
            env.pop("KEYPLANE_DATABASE_URL", None)
            if src:
                env["PYTHONPATH"] = src
            out = subprocess.run([PYTHON, __file__, "--asgi-worker", "--calls", str(args.calls)],
                                 env=env, capture_output=True, text=True, cwd=BENCH.parent, timeout=600)
            if out.returncode != 0:
                raise SystemExit(out.stderr[-3000:])
            us = json.loads(out.stdout.strip().splitlines()[-1])
            for name, value in us.items():
                results[name + suffix].append(value)
            print(f"  round {r + 1}{suffix or ''}: " + ", ".join(f"{k} {v:.1f}" for k, v in us.items()),
                  file=sys.stderr)
    med = {name: statistics.median(v) for name, v in results.items()}
    print(f"\n{'endpoint':<22}{'µs/request (median)':>20}  {'− bare':>8}  rounds")
    for name, values in results.items():
        bare = med["bare" + ("_compare" if name.endswith("_compare") else "")]
        print(f"{name:<22}{med[name]:>20.1f}  {med[name] - bare:8.1f}  "
              + ", ".join(f"{x:.1f}" for x in values))
    if args.json:
        Path(args.json).write_text(json.dumps({"us": results, "median": med}, indent=2))
    if args.cprofile:
        import uvloop
        uvloop.run(_asgi_round(args.calls, args.cprofile))


def main() -> None:
    global MAX_WAIT
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds a wrk run (≤ 30)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (the server has one core's worth)")
    parser.add_argument("--only", help="comma-separated endpoints to measure (default: all)")
    parser.add_argument("--compare-src", metavar="DIR", help="also serve keyplane from this source "
                        "tree (put first on PYTHONPATH), e.g. an export of the code before a change")
    parser.add_argument("--profile", metavar="DIR", help="after the rounds, py-spy the keyplane "
                        "server under token and introspect load; raw profiles go to DIR")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--max-wait", type=float, default=MAX_WAIT, metavar="SECONDS",
                        help="before each run, wait at most this long for the CPUs to be quiet")
    parser.add_argument("--asgi", action="store_true", help="µs per request in process instead of HTTP")
    parser.add_argument("--calls", type=int, default=5_000, help="--asgi: requests an endpoint a round")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N",
                        help="--asgi: also cProfile token and introspect, print the top N functions")
    parser.add_argument("--asgi-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--postgres", metavar="URL", help="serve keyplane on PostgreSQL: a database "
                        "of its own is created on this server for the run (verify_http.py)")
    args = parser.parse_args()
    MAX_WAIT = args.max_wait
    if args.asgi_worker:
        import uvloop
        print(json.dumps(uvloop.run(_asgi_round(args.calls, 0))))
        return
    if args.asgi:
        _asgi(args)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    duration = min(args.duration, 30)

    # SIGTERM (a timeout, a kill) stops the servers and removes the temp dir too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="kp-oauth-bench-"))
    kp_port, bare_port = _free_port(), _free_port()
    env = {**os.environ, "KEYPLANE_DATA_DIR": str(tmp / "data"), "KEYPLANE_ROOT_KEY": ROOT_KEY,
           "KEYPLANE_SECRET_KEY": SECRET, "KEYPLANE_LOG_LEVEL": "warning"}
    env.pop("KEYPLANE_DATABASE_URL", None)
    env.pop("KEYPLANE_ISSUER", None)
    bare_env = {**env, "KEYPLANE_DATA_DIR": str(tmp / "bare-data")}
    databases: list[str] = []
    if args.postgres:
        atexit.register(_pg_drop, args.postgres, databases)
        env["KEYPLANE_DATABASE_URL"] = _pg_database(args.postgres, databases)
    kp_cmd = [str(Path(PYTHON).parent / "keyplane"), "serve", "--host", "127.0.0.1",
              "--port", str(kp_port), "--workers", "1"]
    bare_cmd = bare_command("oauth_http:create_bare_app", bare_port)
    procs = [_start(kp_cmd, env, tmp / "keyplane.log"), _start(bare_cmd, bare_env, tmp / "bare.log")]
    if args.compare_src:
        cmp_port = _free_port()
        cmp_env = {**env, "KEYPLANE_DATA_DIR": str(tmp / "compare-data"),
                   "PYTHONPATH": str(Path(args.compare_src).resolve())}
        if args.postgres:
            cmp_env["KEYPLANE_DATABASE_URL"] = _pg_database(args.postgres, databases)
        cmp_cmd = [c if c != str(kp_port) else str(cmp_port) for c in kp_cmd]
        procs.append(_start(cmp_cmd, cmp_env, tmp / "compare.log"))
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        kp = f"http://127.0.0.1:{kp_port}"
        bare = f"http://127.0.0.1:{bare_port}"
        _wait_ready(kp + "/healthz", procs[0])
        _wait_ready(bare + "/healthz", procs[1])
        creds = _setup(kp)
        scripts = _scripts(tmp, "kp", creds)
        for path in ("/v1/bench/bare", TAIL_PATH):
            status, _ = _form_call(bare + path, "grant_type=client_credentials", creds["basic"])
            assert status == 200, (path, status)
        targets = {
            "bare": (bare + "/v1/bench/bare", scripts["bare"]),
            "bare_tail": (bare + TAIL_PATH, scripts["bare"]),
            "token": (kp + "/oauth/token", scripts["token"]),
            "introspect": (kp + "/oauth/introspect", scripts["introspect"]),
            "jwks": (kp + "/.well-known/jwks.json", scripts["jwks"]),
        }
        if args.compare_src:
            cmp = f"http://127.0.0.1:{cmp_port}"
            _wait_ready(cmp + "/healthz", procs[2])
            cmp_scripts = _scripts(tmp, "cmp", _setup(cmp))
            targets["token_compare"] = (cmp + "/oauth/token", cmp_scripts["token"])
            targets["introspect_compare"] = (cmp + "/oauth/introspect", cmp_scripts["introspect"])
            targets["jwks_compare"] = (cmp + "/.well-known/jwks.json", cmp_scripts["jwks"])
        if args.only:
            keep = set(args.only.split(",")) | {"bare"}
            targets = {k: v for k, v in targets.items() if k in keep}
        print(f"server: keyplane serve; wrk -t{args.threads} -c{args.connections} -d{duration}s; "
              f"{args.rounds} rounds", file=sys.stderr)
        _wait_for_quiet()
        for name, (url, script) in targets.items():  # warm-up: imports, caches, connections
            _wrk(url, script, duration=2, connections=args.connections, threads=args.threads)
        runs = {name: [] for name in targets}
        for r in range(args.rounds):
            for name, (url, script) in targets.items():
                _wait_for_quiet()
                res = _wrk(url, script, duration=duration, connections=args.connections,
                           threads=args.threads)
                runs[name].append(res)
                print(f"  round {r + 1} {name:<19} {res['rps']:9.0f} req/s  p50 {res['p50']:>8}  "
                      f"p99 {res['p99']:>8}  non-2xx {res['non_2xx']} {res['socket_errors']}",
                      file=sys.stderr)
        # Still the same answers after the load.
        status, info = _form_call(kp + "/oauth/introspect", f"token={creds['token']}", creds["basic"])
        assert status == 200 and info["active"] is True, (status, info)
        # Every token issued must reach the audit log (a batched writer, off the request path).
        servers = {"keyplane": (kp, tmp / "data")}
        if args.compare_src:
            servers["compare"] = (cmp, tmp / "compare-data")
        for label, (base, data) in servers.items() if not args.postgres else ():  # reads SQLite
            audit = _audit_catch_up(base, data / "keyplane.db")
            print(f"  audit ({label}): {audit[0]} tokens issued, {audit[1]} token.issue events "
                  "stored; " + (f"complete {audit[2]:.1f} s after the load" if audit[2] is not None
                                else "INCOMPLETE after 60 s"), file=sys.stderr)
        if args.profile:
            out_dir = Path(args.profile)
            out_dir.mkdir(parents=True, exist_ok=True)
            for name in ("token", "introspect"):
                url = kp + ("/oauth/token" if name == "token" else "/oauth/introspect")
                out = out_dir / f"{name}.txt"
                _profile(procs[0].pid, url, scripts[name], out, seconds=10, connections=args.connections)
                print(summarize_profile(out), file=sys.stderr)
    finally:
        for p in procs:
            _stop(p)
        if os.environ.get("KP_BENCH_KEEP_TMP"):  # the servers' logs, to read after a failure
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    med = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
    per_round = {name: [r["rps"] / b["rps"] for r, b in zip(rs, runs["bare"], strict=True)]
                 for name, rs in runs.items()}
    print()
    print(f"{'endpoint':<20}{'req/s (median)':>15}  {'×bare':>6}  {'×bare per round':<22}"
          f"{'p50 ms':>8}{'p99 ms':>8}")
    for name in runs:
        rounds = ", ".join(f"{x:.2f}" for x in per_round[name])
        p50 = statistics.median(_ms(r["p50"]) for r in runs[name])
        p99 = statistics.median(_ms(r["p99"]) for r in runs[name])
        print(f"{name:<20}{med[name]:>15,.0f}  {med[name] / med['bare']:6.2f}  {rounds:<22}"
              f"{p50:8.2f}{p99:8.1f}")
    for name, goal in GOALS.items():
        if name in per_round:
            ratio = statistics.median(per_round[name])
            print(f"{name} / bare: median per round {ratio:.2f} (goal ≥ {goal:.2f}: "
                  f"{'met' if ratio >= goal else 'NOT met'})")
    for name in ("token", "introspect", "jwks"):
        if f"{name}_compare" in per_round and name in per_round:
            after_before = [a / b for a, b in zip(per_round[name], per_round[f"{name}_compare"], strict=True)]
            print(f"{name} / {name}_compare ({args.compare_src}): per round "
                  f"{', '.join(f'{x:.2f}' for x in after_before)} (median {statistics.median(after_before):.2f})")
    if any(r["non_2xx"] for rs in runs.values() for r in rs):
        print("WARNING: some responses were not 2xx", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "median": med, "per_round": per_round},
                                              indent=2))


if __name__ == "__main__":
    main()
