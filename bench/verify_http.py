"""`POST /v1/keys/verify` over real HTTP against a bare endpoint of the same stack.

Starts, on 127.0.0.1, one keyplane server (one worker, a temp data dir, KEYPLANE_ROOT_KEY
set; `keyplane serve` when the CLI has it, else uvicorn with the
`keyplane.app:app_from_environment` factory, httptools + uvloop) and one server for
`bench/bare_app.py` with the same uvicorn options. It creates an API and a key through the
API, then loads each endpoint with wrk (a Lua script: POST, JSON body, Authorization
header), 32 connections, alternating endpoints round by round, and reports req/s of
verify (a VALID key) and of the bare endpoints, and their ratios (medians over rounds).

`--postgres URL` (e.g. postgresql://postgres@127.0.0.1:5432/test) serves keyplane, and the
`--compare-src` tree, on a database of their own created there for the run and dropped
after it, instead of SQLite (the bare endpoint stays on SQLite: it touches no store).

Run: .venv/bin/python bench/verify_http.py [--duration 10] [--rounds 3] [--postgres URL]
Needs wrk (apt-get install -y wrk). Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
ROOT_KEY = "bench-root-" + "r" * 40
SECRET = "bench-secret-" + "s" * 40
# What `keyplane serve` gives uvicorn (httptools, uvloop, no Server header, the access log
# on but below KEYPLANE_LOG_LEVEL=warning), so the bare server runs under the same options.
UVICORN_OPTS = ["--host", "127.0.0.1", "--workers", "1", "--http", "httptools", "--loop", "uvloop",
                "--no-server-header", "--log-level", "warning", "--timeout-graceful-shutdown", "5"]
# What `keyplane serve --server granian` gives granian (cli/serve.py).
GRANIAN_OPTS = ["--interface", "asgi", "--host", "127.0.0.1", "--workers", "1", "--loop", "uvloop",
                "--no-ws", "--http", "1", "--log-level", "warning", "--factory"]
# The server of every benchmark: `keyplane serve` reads KEYPLANE_SERVER too, so keyplane and
# the bare endpoint always run on the same one (uvicorn unless the environment says granian).
SERVER = os.environ.get("KEYPLANE_SERVER", "uvicorn")


def bare_command(target: str, port: int) -> list[str]:
    """The bare endpoint `target` (module:factory in bench/) under SERVER, as keyplane serve runs."""
    if SERVER == "uvicorn":
        return [PYTHON, "-m", "uvicorn", "--factory", "--app-dir", str(BENCH), target,
                "--port", str(port), *UVICORN_OPTS]
    return [str(Path(PYTHON).parent / "granian"), *GRANIAN_OPTS, "--working-dir", str(BENCH),
            "--port", str(port), target]

LUA = """\
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = {auth}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _call(method: str, url: str, body: Any = None, *, auth: bool = True) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header("Authorization", f"Bearer {ROOT_KEY}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = getattr(proc, "log_path", None)
            tail = log.read_text(errors="replace")[-2000:] if log is not None else ""
            raise SystemExit(f"server exited with {proc.returncode}: {proc.args}\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server not ready after {timeout} s: {proc.args}")


def _keyplane_serve_available() -> bool:
    exe = Path(PYTHON).parent / "keyplane"
    if not exe.exists():
        return False
    out = subprocess.run([str(exe), "serve", "--help"], capture_output=True, text=True)
    return out.returncode == 0 and "--workers" in out.stdout


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT,
                                start_new_session=True)
    proc.log_path = log  # type: ignore[attr-defined]
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wrk(url: str, script: Path, *, duration: int, connections: int, threads: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, timeout=duration + 30,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    p50 = re.search(r"\s50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"\s99%\s+([\d.]+\w+)", out)
    return {"rps": rps, "requests": requests, "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(0) if errors else "",
            "p50": p50.group(1) if p50 else "?", "p99": p99.group(1) if p99 else "?"}


def _script(tmp: Path, name: str, body: dict[str, Any]) -> Path:
    path = tmp / f"{name}.lua"
    path.write_text(LUA.format(body=json.dumps(json.dumps(body)),
                               auth=json.dumps(f"Bearer {ROOT_KEY}")))
    return path


def create_key(base: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An API and a key in it (no limits), created through the API: both answers."""
    status, api = _call("POST", base + "/v1/apis", {"name": "bench", "key_prefix": "sk_bench"})
    assert status == 201, (status, api)
    status, key = _call("POST", base + "/v1/keys", {
        "api_id": api["id"], "name": "bench key", "owner_id": "team_42",
        "permissions": ["documents.read", "documents.write"], "metadata": {"plan": "pro"}})
    assert status == 201, (status, key)
    return api, key


def _make_key(base: str) -> dict[str, Any]:
    """An API and a key in it, created through the API; the body that verifies it (VALID)."""
    body = {"key": create_key(base)[1]["key"]}
    status, answer = _call("POST", base + "/v1/keys/verify", body)
    assert status == 200 and answer["code"] == "VALID", (status, answer)
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds a wrk run (≤ 30)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (the server has one core's worth)")
    parser.add_argument("--start", choices=["auto", "uvicorn", "keyplane"], default="auto",
                        help="how to start keyplane (auto: `keyplane serve` when the CLI has it)")
    parser.add_argument("--compare-src", metavar="DIR", help="also serve keyplane from this source "
                        "tree (put first on PYTHONPATH), e.g. an export of the code before a change")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--postgres", metavar="URL", help="serve keyplane on PostgreSQL: a database "
                        "of its own is created on this server for the run")
    args = parser.parse_args()
    databases: list[str] = []
    try:
        _run(args, databases)
    finally:
        _pg_drop(args.postgres, databases)


def _pg_admin(admin_url: str, statement: str) -> None:
    import asyncio

    import asyncpg  # type: ignore[import-untyped]

    async def run() -> None:
        conn = await asyncpg.connect(admin_url, timeout=5)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _pg_drop(admin_url: str | None, databases: list[str]) -> None:
    """Drop the databases `_pg_database` made."""
    for url in databases:
        _pg_admin(str(admin_url), f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _pg_database(admin_url: str, databases: list[str]) -> str:
    """A new empty database on the server of `admin_url`, for one keyplane server."""
    name = f"kp_bench_{os.getpid()}_{len(databases)}"
    _pg_admin(admin_url, f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rsplit('/', 1)[0]}/{name}"
    databases.append(url)
    return url


def _run(args: argparse.Namespace, databases: list[str]) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    duration = min(args.duration, 30)

    tmp = Path(tempfile.mkdtemp(prefix="kp-http-bench-"))
    kp_port, bare_port = _free_port(), _free_port()
    env = {**os.environ, "KEYPLANE_DATA_DIR": str(tmp / "data"), "KEYPLANE_ROOT_KEY": ROOT_KEY,
           "KEYPLANE_SECRET_KEY": SECRET, "KEYPLANE_LOG_LEVEL": "warning"}
    env.pop("KEYPLANE_DATABASE_URL", None)
    bare_env = {**env, "KEYPLANE_DATA_DIR": str(tmp / "bare-data")}
    if args.postgres:
        env["KEYPLANE_DATABASE_URL"] = _pg_database(args.postgres, databases)
    use_cli = args.start == "keyplane" or (args.start == "auto" and _keyplane_serve_available())
    if use_cli:
        kp_cmd = [str(Path(PYTHON).parent / "keyplane"), "serve", "--host", "127.0.0.1",
                  "--port", str(kp_port), "--workers", "1"]
    else:
        kp_cmd = [PYTHON, "-m", "uvicorn", "--factory", "keyplane.app:app_from_environment",
                  "--port", str(kp_port), *UVICORN_OPTS]
    bare_cmd = bare_command("bare_app:create_app", bare_port)
    procs = [_start(kp_cmd, env, tmp / "keyplane.log"), _start(bare_cmd, bare_env, tmp / "bare.log")]
    if args.compare_src:
        cmp_port = _free_port()
        cmp_env = {**env, "KEYPLANE_DATA_DIR": str(tmp / "compare-data"),
                   "PYTHONPATH": str(Path(args.compare_src).resolve())}
        if args.postgres:
            cmp_env["KEYPLANE_DATABASE_URL"] = _pg_database(args.postgres, databases)
        cmp_cmd = [c if c != str(kp_port) else str(cmp_port) for c in kp_cmd]
        procs.append(_start(cmp_cmd, cmp_env, tmp / "compare.log"))
    try:
        kp = f"http://127.0.0.1:{kp_port}"
        bare = f"http://127.0.0.1:{bare_port}"
        _wait_ready(kp + "/healthz", procs[0])
        _wait_ready(bare + "/healthz", procs[1])
        verify_body = _make_key(kp)
        for path in ("/v1/bench/bare", "/v1/bench/bare-request"):
            status, _ = _call("POST", bare + path, verify_body)
            assert status == 200, (path, status)

        targets = {
            "bare": (bare + "/v1/bench/bare", _script(tmp, "bare", verify_body)),
            "bare_request": (bare + "/v1/bench/bare-request", _script(tmp, "bare_request", verify_body)),
            "verify": (kp + "/v1/keys/verify", _script(tmp, "verify", verify_body)),
        }
        if args.compare_src:
            cmp = f"http://127.0.0.1:{cmp_port}"
            _wait_ready(cmp + "/healthz", procs[2])
            targets["verify_compare"] = (cmp + "/v1/keys/verify", _script(tmp, "compare", _make_key(cmp)))
        print(f"server: {'keyplane serve' if use_cli else 'uvicorn (factory)'} on {SERVER}; wrk -t{args.threads} "
              f"-c{args.connections} -d{duration}s; {args.rounds} rounds", file=sys.stderr)
        for name, (url, script) in targets.items():  # warm-up: imports, caches, connections
            _wrk(url, script, duration=2, connections=args.connections, threads=args.threads)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        ratios: list[float] = []
        for r in range(args.rounds):
            for name, (url, script) in targets.items():
                res = _wrk(url, script, duration=duration, connections=args.connections,
                           threads=args.threads)
                runs[name].append(res)
                print(f"  round {r + 1} {name:<13} {res['rps']:9.0f} req/s  p50 {res['p50']:>8}  "
                      f"p99 {res['p99']:>8}  non-2xx {res['non_2xx']} {res['socket_errors']}",
                      file=sys.stderr)
            ratios.append(runs["verify"][-1]["rps"] / runs["bare"][-1]["rps"])
        status, answer = _call("POST", kp + "/v1/keys/verify", verify_body)
        assert answer["code"] == "VALID", answer
    finally:
        for p in procs:
            _stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    med = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
    print()
    print(f"{'endpoint':<15}{'req/s (median)':>15}  {'×bare':>6}")
    for name in targets:
        print(f"{name:<15}{med[name]:>15,.0f}  {med[name] / med['bare']:6.2f}")
    print(f"verify / bare per round: {', '.join(f'{x:.2f}' for x in ratios)} "
          f"(median {statistics.median(ratios):.2f}; goal ≥ 0.50)")
    print(f"verify / bare_request: {med['verify'] / med['bare_request']:.2f}")
    if "verify_compare" in med:
        print(f"verify / verify_compare ({args.compare_src}): {med['verify'] / med['verify_compare']:.2f}")
    if any(r["non_2xx"] for rs in runs.values() for r in rs):
        print("WARNING: some responses were not 2xx", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "median": med, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
