"""What users get: `keyplane serve` with its default settings, one pinned core, in one run.

Every server runs pinned to core 0 (`taskset -c 0`), wrk (`-t1 -c32`) to core 1, and the
targets take turns round by round, so each figure has its floor from the same minutes:

- floor        bench/floor_app.py: a bare Starlette app, `await request.json()` →
               `JSONResponse`, uvicorn + uvloop + httptools, no access log
- verify       `POST /v1/keys/verify` of a valid key (no limits) on `keyplane serve` as the
               README starts it: nothing set but a data directory and a root key
- verify_logged, verify_quiet   the same on two more `keyplane serve`s that only verify, one
               as shipped, one with KEYPLANE_LOG_LEVEL=warning: what the default logging
               costs is `1 − verify_quiet's CPU a request ÷ verify_logged's`, the median of
               the rounds (`logging_cost`)
- token        `POST /oauth/token`, client_credentials, client_secret_basic, an ES256 JWT
- introspect   `POST /oauth/introspect` of such a JWT, the client's own Basic auth
- mw_none      a user's Starlette endpoint, no authentication (bench/middleware_app.py)
- mw_key       the same endpoint behind `KeyplaneMiddleware`, a cached API key
- drf          Django REST framework + djangorestframework-api-key, one sync gunicorn
               worker (installed from PyPI into a venv of its own; `--no-drf` skips it)

Then: p99 of verify at half its measured maximum rate (wrk with a per-connection delay),
and the count check: the usage records keyplane wrote for the verified key equal the
verifications it answered (its /metrics counter), after the usage flush.

`--rss` also measures one worker's RSS after verifying 100,000 distinct keys of 1,000,000
stored (bench/fill_keys.py fills the store first; ~2 min more).

Goals (issue 21): verify ≥ 0.9 × floor, token ≥ 0.5 ×, introspect ≥ 0.8 ×, default logging
≤ 5 % of verify, mw_key ≥ 0.9 × mw_none, p99 at half rate ≤ 5 ms, RSS ≤ 300 MB.

Run: .venv/bin/python bench/defaults.py [--duration 8] [--rounds 3] [--rss] [--json FILE]
Needs wrk and taskset; nothing here runs in the test suite; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from verify_http import (  # noqa: E402
    BENCH,
    PYTHON,
    ROOT_KEY,
    _call,
    _free_port,
    _start,
    _stop,
    _wait_ready,
    create_key,
)

SERVER_CORE, LOAD_CORE = "0", "1"
GOALS = {"verify": 0.9, "token": 0.5, "introspect": 0.8}
LOGGING_GOAL, MIDDLEWARE_GOAL, P99_GOAL_MS, RSS_GOAL_MB = 0.05, 0.9, 5.0, 300
DRF_VENV = Path(tempfile.gettempdir()) / "kp-bench-drf-venv"
DRF_PACKAGES = ["django", "djangorestframework", "djangorestframework-api-key", "gunicorn"]
KEYPLANE = str(Path(PYTHON).parent / "keyplane")
UVICORN = [PYTHON, "-m", "uvicorn", "--app-dir", str(BENCH), "--host", "127.0.0.1",
           "--loop", "uvloop", "--http", "httptools", "--no-access-log"]


def pinned(cmd: list[str], core: str = SERVER_CORE) -> list[str]:
    return ["taskset", "-c", core, *cmd]


def lua(method: str, body: str | None, headers: dict[str, str], extra: str = "") -> str:
    lines = [f"wrk.method = {json.dumps(method)}",
             f"wrk.body = {json.dumps(body) if body is not None else 'nil'}"]
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n" + extra


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process, its threads and its live children
    (granian serves from a worker process it spawns)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except OSError:  # a process that ended meanwhile
        pass
    return total


def wrk(url: str, script: Path, duration: int, *, connections: int = 32,
        pid: int | None = None) -> dict[str, Any]:
    """One wrk run; with `pid`, also the server's CPU µs per request (steadier than req/s
    on a shared machine: other processes on the core lower req/s, not CPU per request)."""
    cpu_before = cpu_seconds(pid) if pid is not None else 0.0
    out = subprocess.run(
        pinned(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script),
                url], LOAD_CORE), capture_output=True, text=True, timeout=duration + 30).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise SystemExit(f"wrk failed on {url}:\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    cpu_us = ((cpu_seconds(pid) - cpu_before) * 1e6 / max(requests, 1)) if pid is not None else None
    return {"rps": float(found.group(1)), "requests": requests, "cpu_us": cpu_us,
            "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(0) if errors else "",
            "p50_ms": _ms(re.search(r"\s50%\s+(\S+)", out)),
            "p99_ms": _ms(re.search(r"\s99%\s+(\S+)", out))}


def _ms(found: re.Match[str] | None) -> float:
    if found is None:
        return float("nan")
    value = re.fullmatch(r"([\d.]+)(us|ms|s|m)", found.group(1))
    if value is None:
        return float("nan")
    return float(value.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[value.group(2)]


def _form(url: str, body: str, basic: str) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body.encode(), method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Authorization": basic})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _setup_keyplane(base: str) -> dict[str, Any]:
    """An API, a key, a client_credentials client and one of its tokens, through the API."""
    api, key = create_key(base)
    status, client = _call("POST", base + "/v1/clients", {
        "name": "bench client", "grant_types": ["client_credentials"], "scopes": ["documents.read"],
        "audiences": ["https://api.example.com"], "token_format": "jwt",
        "token_endpoint_auth_method": "client_secret_basic", "access_token_ttl_seconds": 86_400})
    assert status == 201, (status, client)
    basic = "Basic " + base64.b64encode(
        f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    status, answer = _form(base + "/oauth/token", "grant_type=client_credentials", basic)
    assert status == 200, (status, answer)
    token = answer["access_token"]
    status, info = _form(base + "/oauth/introspect", f"token={token}", basic)
    assert status == 200 and info["active"] is True, (status, info)
    status, verdict = _call("POST", base + "/v1/keys/verify", {"key": key["key"]})
    assert status == 200 and verdict["code"] == "VALID", (status, verdict)
    return {"api_id": api["id"], "key_id": key["id"], "key": key["key"], "basic": basic,
            "token": token}


def _verifications(base: str) -> int:
    """Verifications answered so far, by keyplane's own /metrics counter."""
    req = urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {ROOT_KEY}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        text = resp.read().decode()
    return int(sum(float(m.group(1)) for m in re.finditer(
        r"^keyplane_verifications_total\{[^}]*\} ([\d.e+]+)$", text, re.M)))


def _usage_records(base: str, key_id: str) -> int:
    status, usage = _call("GET", base + f"/v1/keys/{key_id}/usage?granularity=day")
    assert status == 200, (status, usage)
    return sum(sum(item["counts"].values()) for item in usage["items"])


def _drf(tmp: Path, port: int) -> tuple[subprocess.Popen[bytes], str] | None:
    python = DRF_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DRF_VENV)], check=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *DRF_PACKAGES])
        if done.returncode != 0:
            print("  drf: could not install from PyPI, row skipped", file=sys.stderr)
            return None
    env = {**os.environ, "DRF_DB": str(tmp / "drf.sqlite3")}
    key = subprocess.run([str(python), str(BENCH / "drf_app.py"), "setup"], env=env, check=True,
                         capture_output=True, text=True, cwd=BENCH).stdout.strip()
    proc = _start(pinned([str(DRF_VENV / "bin" / "gunicorn"), "--chdir", str(BENCH), "-w", "1",
                          "-b", f"127.0.0.1:{port}", "drf_app:application"]), env, tmp / "drf.log")
    return proc, key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds a wrk run (≤ 30)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-drf", action="store_true", help="skip the Django REST framework row")
    parser.add_argument("--rss", action="store_true", help="also RSS after 100k of 1M keys")
    parser.add_argument("--only", help="comma-separated targets (floor is always measured)")
    parser.add_argument("--compare-src", metavar="DIR", help="also `keyplane serve` from this "
                        "source tree (first on PYTHONPATH), e.g. the code before a change: targets "
                        "verify_before, token_before, introspect_before")
    parser.add_argument("--granian", action="store_true", help="also `keyplane serve --server "
                        "granian`: targets verify_granian, token_granian, introspect_granian")
    parser.add_argument("--py-spy", metavar="DIR", help="after the rounds, profile each target "
                        "under wrk with py-spy (installed in this venv): DIR/<target>.txt, "
                        "collapsed stacks, and each one's top frames printed")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    tmp = Path(tempfile.mkdtemp(prefix="kp-defaults-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        results = _run(args, tmp, procs)
        if args.rss:
            for proc in procs:
                _stop(proc)
            procs.clear()
            results["rss"] = _rss(tmp, procs)
    finally:
        for proc in procs:
            _stop(proc)
        if not os.environ.get("KP_BENCH_KEEP_TMP"):
            shutil.rmtree(tmp, ignore_errors=True)
    _report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def _run(args: argparse.Namespace, tmp: Path, procs: list[subprocess.Popen[bytes]]) -> dict[str, Any]:
    duration = min(args.duration, 30)
    ports = {name: _free_port() for name in ("floor", "kp", "quiet", "mw_none", "mw_key", "drf",
                                             "logged")}
    # What a user sets: where the data lives and a root key to manage it. Nothing else.
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("KEYPLANE_")}
    kp_env = {**base_env, "KEYPLANE_DATA_DIR": str(tmp / "kp"), "KEYPLANE_ROOT_KEY": ROOT_KEY}
    quiet_env = {**kp_env, "KEYPLANE_DATA_DIR": str(tmp / "quiet"), "KEYPLANE_LOG_LEVEL": "warning"}
    serve = [KEYPLANE, "serve"]
    procs.append(_start(pinned(serve + ["--port", str(ports["kp"])]), kp_env, tmp / "kp.log"))
    procs.append(_start(pinned(serve + ["--port", str(ports["quiet"])]), quiet_env, tmp / "quiet.log"))
    procs.append(_start(pinned(UVICORN + ["--port", str(ports["floor"]), "floor_app:app"]),
                        base_env, tmp / "floor.log"))
    kp, quiet = (f"http://127.0.0.1:{ports[n]}" for n in ("kp", "quiet"))
    _wait_ready(kp + "/healthz", procs[0])
    _wait_ready(quiet + "/healthz", procs[1])
    setup, quiet_setup = _setup_keyplane(kp), _setup_keyplane(quiet)
    # The logging pair: two servers that verify and nothing else, one as shipped, one quiet
    # (`kp` also issues and introspects tokens, and its store grows with them).
    logged_proc = _start(pinned(serve + ["--port", str(ports["logged"])]),
                         {**kp_env, "KEYPLANE_DATA_DIR": str(tmp / "logged")}, tmp / "logged.log")
    logged = f"http://127.0.0.1:{ports['logged']}"
    try:
        _wait_ready(logged + "/healthz", logged_proc)
        logged_setup = _setup_keyplane(logged)
    except BaseException:
        _stop(logged_proc)  # not in `procs` yet (see below)
        raise
    mw_env = {**base_env, "KEYPLANE_URL": kp, "KEYPLANE_ISSUER": kp, "KEYPLANE_ROOT_KEY": ROOT_KEY,
              "KEYPLANE_API_ID": setup["api_id"]}
    procs.append(_start(pinned(UVICORN + ["--port", str(ports["mw_none"]),
                                          "middleware_app:unprotected"]), base_env, tmp / "mw0.log"))
    procs.append(_start(pinned(UVICORN + ["--port", str(ports["mw_key"]),
                                          "middleware_app:protected"]), mw_env, tmp / "mw1.log"))
    drf = None if args.no_drf else _drf(tmp, ports["drf"])
    granian: dict[str, Any] | None = None
    if args.granian:
        g_port = _free_port()
        g_env = {**kp_env, "KEYPLANE_DATA_DIR": str(tmp / "granian")}
        g_proc = _start(pinned(serve + ["--port", str(g_port), "--server", "granian"]), g_env,
                        tmp / "granian.log")
        g_base = f"http://127.0.0.1:{g_port}"
        procs.append(g_proc)
        _wait_ready(g_base + "/healthz", g_proc)
        granian = {"base": g_base, "pid": g_proc.pid, **_setup_keyplane(g_base)}
    if drf is not None:
        procs.append(drf[0])
    procs.append(logged_proc)  # after the others: the lookups by position below stay

    json_headers = {"Content-Type": "application/json", "Authorization": f"Bearer {ROOT_KEY}"}
    form = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": setup["basic"]}
    verify_body = json.dumps({"key": setup["key"]})
    pid = {name: proc.pid for name, proc in zip(("kp", "quiet", "floor", "mw_none", "mw_key"), procs)}
    targets: dict[str, tuple[str, str, int | None]] = {
        "floor": (f"http://127.0.0.1:{ports['floor']}/", lua("POST", verify_body, json_headers),
                  pid["floor"]),
        "verify": (kp + "/v1/keys/verify", lua("POST", verify_body, json_headers), pid["kp"]),
        "verify_logged": (logged + "/v1/keys/verify",
                          lua("POST", json.dumps({"key": logged_setup["key"]}), json_headers),
                          logged_proc.pid),
        "verify_quiet": (quiet + "/v1/keys/verify",
                         lua("POST", json.dumps({"key": quiet_setup["key"]}), json_headers),
                         pid["quiet"]),
        "token": (kp + "/oauth/token", lua("POST", "grant_type=client_credentials", form), pid["kp"]),
        "introspect": (kp + "/oauth/introspect", lua("POST", f"token={setup['token']}", form),
                       pid["kp"]),
        "mw_none": (f"http://127.0.0.1:{ports['mw_none']}/items", lua("GET", None, {}),
                    pid["mw_none"]),
        "mw_key": (f"http://127.0.0.1:{ports['mw_key']}/items",
                   lua("GET", None, {"Authorization": f"Bearer {setup['key']}"}), pid["mw_key"]),
    }
    if args.compare_src:
        b_port = _free_port()
        b_env = {**kp_env, "KEYPLANE_DATA_DIR": str(tmp / "before"),
                 "PYTHONPATH": str(_source_root(Path(args.compare_src)))}
        b_proc = _start(pinned(serve + ["--port", str(b_port)]), b_env, tmp / "before.log")
        procs.append(b_proc)
        b_base = f"http://127.0.0.1:{b_port}"
        _wait_ready(b_base + "/healthz", b_proc)
        before = _setup_keyplane(b_base)
        b_form = {**form, "Authorization": before["basic"]}
        targets["verify_before"] = (b_base + "/v1/keys/verify", lua(
            "POST", json.dumps({"key": before["key"]}), json_headers), b_proc.pid)
        targets["token_before"] = (b_base + "/oauth/token", lua(
            "POST", "grant_type=client_credentials", b_form), b_proc.pid)
        targets["introspect_before"] = (b_base + "/oauth/introspect", lua(
            "POST", f"token={before['token']}", b_form), b_proc.pid)
    if granian is not None:
        g_form = {**form, "Authorization": granian["basic"]}
        targets["verify_granian"] = (granian["base"] + "/v1/keys/verify", lua(
            "POST", json.dumps({"key": granian["key"]}), json_headers), granian["pid"])
        targets["token_granian"] = (granian["base"] + "/oauth/token", lua(
            "POST", "grant_type=client_credentials", g_form), granian["pid"])
        targets["introspect_granian"] = (granian["base"] + "/oauth/introspect", lua(
            "POST", f"token={granian['token']}", g_form), granian["pid"])
    if drf is not None:  # gunicorn's worker is a child of the process started: no CPU figure
        targets["drf"] = (f"http://127.0.0.1:{ports['drf']}/items",
                          lua("GET", None, {"Authorization": f"Api-Key {drf[1]}"}), None)
    if args.only:
        wanted = {"floor", *args.only.split(",")}
        targets = {k: v for k, v in targets.items() if k in wanted}
    for name, proc in zip(("mw_none", "mw_key", "drf"), procs[3:]):
        if name in targets:
            _wait_ready(targets[name][0], proc)
    scripts = {}
    for name, (_, text, _) in targets.items():
        scripts[name] = tmp / f"{name}.lua"
        scripts[name].write_text(text)
    print(f"servers pinned to core {SERVER_CORE}, wrk -t1 -c32 -d{duration}s pinned to core "
          f"{LOAD_CORE}; {args.rounds} rounds", file=sys.stderr)
    for name, (url, _, _) in targets.items():  # warm-up: imports, caches, connections
        wrk(url, scripts[name], 2)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for r in range(args.rounds):
        for name, (url, _, server) in targets.items():
            res = wrk(url, scripts[name], duration, pid=server)
            runs[name].append(res)
            cpu = f"{res['cpu_us']:6.1f} µs CPU" if res["cpu_us"] is not None else " " * 13
            print(f"  round {r + 1} {name:<13}{res['rps']:9.0f} req/s {cpu}  p50 {res['p50_ms']:6.2f} ms  "
                  f"p99 {res['p99_ms']:6.2f} ms  non-2xx {res['non_2xx']} {res['socket_errors']}",
                  file=sys.stderr)
    if args.py_spy:
        _profiles(Path(args.py_spy), targets, scripts, duration)
    results: dict[str, Any] = {"runs": runs, "rounds": args.rounds, "duration": duration}
    if args.compare_src:
        rev = subprocess.run(["git", "-C", args.compare_src, "log", "-1", "--format=%h (%cs)"],
                             capture_output=True, text=True).stdout.strip()
        results["compare_rev"] = rev or args.compare_src
    if "verify" in targets:
        results["half_rate"] = _half_rate(tmp, targets, runs["verify"], duration)
        results["count_check"] = _count_check(kp, setup["key_id"])
    return results


def _source_root(tree: Path) -> Path:
    """Where a checkout's `keyplane` package is imported from: its src/ (the layout here)."""
    tree = tree.resolve()
    return tree / "src" if (tree / "src" / "keyplane").is_dir() else tree


def _profiles(out: Path, targets: dict[str, tuple[str, str, int | None]],
              scripts: dict[str, Path], duration: int) -> None:
    """py-spy (on the load core, not pausing the server) samples each server under wrk; the
    figures of these runs are not kept: the sampler takes CPU from the load generator."""
    out.mkdir(parents=True, exist_ok=True)
    py_spy = str(Path(sys.executable).parent / "py-spy")
    for name, (url, _, server) in targets.items():
        if server is None:
            continue
        path = out / f"{name}.txt"
        spy = subprocess.Popen(["taskset", "-c", LOAD_CORE, py_spy, "record", "--pid", str(server),
                                "--duration", str(duration), "--rate", "200", "--nonblocking",
                                "--format", "raw", "--output", str(path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # attached before the load starts
        wrk(url, scripts[name], duration)
        spy.wait(timeout=duration + 30)
        print(f"  py-spy {name}: {path}", file=sys.stderr)
        for share, frame in top_frames(path)[:12]:
            print(f"    {share:5.1f} %  {frame}", file=sys.stderr)


def top_frames(path: Path) -> list[tuple[float, str]]:
    """Own time by frame (the innermost of each stack) from py-spy's collapsed output, in
    percent of the samples, the largest first."""
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        own[leaf] = own.get(leaf, 0) + int(count)
        total += int(count)
    return sorted(((100 * n / max(total, 1), frame) for frame, n in own.items()), reverse=True)


def _half_rate(tmp: Path, targets: dict[str, tuple[str, str, int | None]],
               runs: list[dict[str, Any]], duration: int) -> dict[str, Any]:
    """verify at about half its maximum rate (each of 32 connections waits between its
    requests), and the floor at the same pace: its p99 is what the machine itself adds."""
    rate = statistics.median(r["rps"] for r in runs) / 2
    connections = 32
    delay_ms = connections * 1000 / rate
    found: dict[str, Any] = {"asked_rps": rate}
    for name in ("floor", "verify"):
        url, text, _ = targets[name]
        script = tmp / f"half-{name}.lua"
        script.write_text(text + f"function delay() return {delay_ms:.3f} end\n")
        res = wrk(url, script, max(duration, 10), connections=connections)
        print(f"  {name} at half verify's rate: asked {rate:.0f}/s, got {res['rps']:.0f}/s, "
              f"p50 {res['p50_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms", file=sys.stderr)
        found[name] = res
    return {**found["verify"], "asked_rps": rate, "floor": found["floor"]}


def _count_check(base: str, key_id: str) -> dict[str, Any]:
    """Usage records written for the key = verifications answered (after the flush)."""
    answered = _verifications(base)
    deadline = time.monotonic() + 30
    written = _usage_records(base, key_id)
    while written < answered and time.monotonic() < deadline:
        time.sleep(0.5)
        written = _usage_records(base, key_id)
    return {"answered": answered, "written": written, "equal": answered == written}


def _rss(tmp: Path, procs: list[subprocess.Popen[bytes]]) -> dict[str, Any]:
    """RSS of one worker after verifying 100,000 distinct keys of 1,000,000 stored."""
    data = tmp / "rss"
    keys_file = tmp / "keys.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYPLANE_")}
    env.update(KEYPLANE_DATA_DIR=str(data), KEYPLANE_ROOT_KEY=ROOT_KEY)
    subprocess.run([PYTHON, str(BENCH / "fill_keys.py"), "--keys", "1000000", "--sample", "100000",
                    "--out", str(keys_file)], env=env, check=True)
    port = _free_port()
    proc = _start(pinned([KEYPLANE, "serve", "--port", str(port)]), env, tmp / "rss.log")
    procs.append(proc)
    base = f"http://127.0.0.1:{port}"
    _wait_ready(base + "/healthz", proc)
    start_rss = _rss_mb(proc.pid)
    script = tmp / "walk.lua"
    script.write_text(WALK_LUA.format(path=json.dumps(str(keys_file)), auth=json.dumps(f"Bearer {ROOT_KEY}")))
    sent, runs = 0, 0
    while sent < 100_000 and runs < 20:  # the walk starts where the last run stopped
        res = subprocess.run(pinned(["wrk", "-t1", "-c32", "-d10s", "-s", str(script),
                                     base + "/v1/keys/verify", "--", str(sent)], LOAD_CORE),
                             capture_output=True, text=True, timeout=60).stdout
        sent += int(re.search(r"(\d+) requests in", res).group(1))  # type: ignore[union-attr]
        runs += 1
    end_rss = _rss_mb(proc.pid)
    print(f"  RSS: {start_rss:.0f} MB at start, {end_rss:.0f} MB after {sent:,} verifications "
          f"of distinct keys (1M stored)", file=sys.stderr)
    return {"start_mb": start_rss, "end_mb": end_rss, "verified": sent}


WALK_LUA = """\
local keys = {{}}
for line in io.lines({path}) do keys[#keys + 1] = line end
local i = 0
function init(args) i = tonumber(args[1] or "0") end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = {auth}
function request()
  i = i + 1
  return wrk.format(nil, nil, nil, '{{"key":"' .. keys[(i - 1) % #keys + 1] .. '"}}')
end
"""


def _rss_mb(pid: int) -> float:
    """RSS of the serving process (the deepest child: taskset execs, keyplane serves)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def logging_cost(runs: dict[str, list[dict[str, Any]]]) -> float | None:
    """What the default logging costs verify: `1 − quiet's CPU a request ÷ logged's`, round
    by round (two servers that only verify, back to back in a round), the median of the
    rounds. On
    one pinned core throughput is the inverse of CPU a request, and CPU a request is what
    the rest of the machine disturbs least: the req/s of two runs 8 s apart swung ±8 points
    here (−6.3 % and +9.6 % in two runs of the same code, 2026-12-07)."""
    verify, quiet = runs.get("verify_logged"), runs.get("verify_quiet")
    if not verify or not quiet or any(r["cpu_us"] is None for r in (*verify, *quiet)):
        return None
    return statistics.median(1 - q["cpu_us"] / v["cpu_us"] for v, q in zip(verify, quiet))


def _report(results: dict[str, Any]) -> None:
    runs = results["runs"]
    med = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
    floor = med["floor"]
    per_round = {name: [r["rps"] / f["rps"] for r, f in zip(rs, runs["floor"])]
                 for name, rs in runs.items()}
    cpu = {name: statistics.median(r["cpu_us"] for r in rs) for name, rs in runs.items()
           if all(r["cpu_us"] is not None for r in rs)}
    print(f"\n{'target':<14}{'req/s':>9}  {'÷ floor':>8}  {'per round':<20} {'CPU µs/req':>10}  "
          f"{'floor ÷ it':>10}  goal")
    for name in runs:
        goal = GOALS.get(name)
        ratio = med[name] / floor
        mark = "" if goal is None else f"≥ {goal:.2f} {'met' if ratio >= goal else 'NOT met'}"
        rounds = ", ".join(f"{x:.2f}" for x in per_round[name])
        cpu_text = (f"{cpu[name]:10.1f}  {cpu['floor'] / cpu[name]:10.2f}" if name in cpu and "floor" in cpu
                    else " " * 22)
        print(f"{name:<14}{med[name]:>9,.0f}  {ratio:8.2f}  {rounds:<20} {cpu_text}  {mark}")
    cost = logging_cost(runs)
    if cost is not None:
        print(f"default logging costs {cost:.1%} of verify, the median of {len(runs['verify_logged'])} "
              f"paired rounds' CPU a request (goal ≤ {LOGGING_GOAL:.0%}: "
              f"{'met' if cost <= LOGGING_GOAL else 'NOT met'})")
    if "mw_key" in med and "mw_none" in med:
        ratio = med["mw_key"] / med["mw_none"]
        print(f"KeyplaneMiddleware ÷ unauthenticated: {ratio:.2f} (goal ≥ {MIDDLEWARE_GOAL}: "
              f"{'met' if ratio >= MIDDLEWARE_GOAL else 'NOT met'})")
    if "drf" in med and "mw_key" in med:
        print(f"KeyplaneMiddleware ÷ DRF + djangorestframework-api-key: {med['mw_key'] / med['drf']:.1f}×")
    if "half_rate" in results:
        half = results["half_rate"]
        print(f"verify p99 at {half['rps']:,.0f} req/s (half of max): {half['p99_ms']:.2f} ms "
              f"(goal ≤ {P99_GOAL_MS} ms: {'met' if half['p99_ms'] <= P99_GOAL_MS else 'NOT met'}); "
              f"the floor at the same pace: p99 {half['floor']['p99_ms']:.2f} ms")
    if "count_check" in results:
        check = results["count_check"]
        print(f"count check: {check['answered']:,} verifications answered, {check['written']:,} "
              f"usage records written: {'equal' if check['equal'] else 'NOT equal'}")
    if "rss" in results:
        rss = results["rss"]
        print(f"RSS after {rss['verified']:,} distinct keys of 1M: {rss['end_mb']:.0f} MB (goal ≤ "
              f"{RSS_GOAL_MB} MB: {'met' if rss['end_mb'] <= RSS_GOAL_MB else 'NOT met'})")
    if any(r["non_2xx"] for rs in runs.values() for r in rs):
        print("WARNING: some responses were not 2xx")


if __name__ == "__main__":
    main()
