"""Every benchmark of the project in one run; rewrites bench/RESULTS.md.

Runs, one after the other, each script of bench/ that measures a goal (each starts its own
live `keyplane serve` processes on 127.0.0.1 and loads them with wrk for a bounded time, next
to a bare endpoint of the same stack in the same run; the in-process ones compare with raw
`cryptography` / sqlite3 in the same run), reads the JSON each writes, and rewrites
bench/RESULTS.md: machine, date, versions, figures, ratios and whether each goal is met.
The analysis of earlier runs (profiles, what changed and why) stays in bench/NOTES.md.

Run from the repository root:  .venv/bin/python bench/run_all.py
  --duration S   seconds a wrk run (default 8)      --rounds N   rounds (default 3)
  --only a,b     some benchmarks (names below)      --out FILE   instead of bench/RESULTS.md
(metering_http and oauth_http, whose goals sit near the line, run half as long and three
times as many rounds)
wrk comes from Debian (`apt-get install -y wrk`); the script installs it when it is missing
and apt-get is there. Takes ~30 minutes with the defaults. Never part of the test suite.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = sys.executable
sys.path.insert(0, str(BENCH))

from defaults import logging_cost  # noqa: E402


@dataclass(frozen=True)
class Row:
    """One line of a results table: a figure, the same-run baseline, their ratio, a goal."""

    target: str
    figure: str
    baseline: str = ""
    ratio: str = ""
    goal: str = ""
    met: bool | None = None


@dataclass(frozen=True)
class Bench:
    name: str
    title: str
    script: str
    args: Callable[[argparse.Namespace], list[str]]
    rows: Callable[[Any], list[Row]]
    note: str = ""
    # Whether its goals count: a server figure counts only when taken as users run the
    # service (`keyplane serve` defaults, logging as shipped, pinned, the floor in the same run).
    counted: bool = True


NOT_COUNTED = "not counted: logging turned down, server not pinned (see `defaults`)"


def _f(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def _goal_ratio(ratio: float, goal: float, *, at_least: bool = True) -> tuple[str, bool]:
    return (f"≥ {goal:.2f}" if at_least else f"≤ {goal:.2f}"), (ratio >= goal if at_least else ratio <= goal)


def _wrk_args(a: argparse.Namespace) -> list[str]:
    return ["--duration", str(a.duration), "--rounds", str(a.rounds)]


# --- each script's JSON → rows ---------------------------------------------------------------

def _defaults(data: dict[str, Any]) -> list[Row]:
    """bench/defaults.py: `keyplane serve` as users run it, one pinned core, against the floor."""
    runs = data["runs"]
    med = {name: sorted(r["rps"] for r in rs)[len(rs) // 2] for name, rs in runs.items()}
    cpu = {name: sorted(r["cpu_us"] for r in rs)[len(rs) // 2] for name, rs in runs.items()
           if all(r.get("cpu_us") is not None for r in rs)}
    floor = med["floor"]
    goals = {"verify": 0.9, "token": 0.5, "introspect": 0.8}
    labels = {"floor": "floor: bare Starlette, `await request.json()` → JSONResponse (uvicorn, uvloop, httptools)",
              "verify": "POST /v1/keys/verify, a valid key, no limits",
              "verify_logged": "the same on a server that only verifies, as shipped",
              "verify_quiet": "the same on a server that only verifies, KEYPLANE_LOG_LEVEL=warning (no access log)",
              "token": "client_credentials, Basic, an ES256 JWT",
              "introspect": "introspection of a keyplane JWT",
              "mw_none": "a Starlette endpoint, no authentication",
              "mw_key": "the same behind KeyplaneMiddleware, a cached API key",
              "drf": "Django REST framework + djangorestframework-api-key, one sync gunicorn worker"}
    before = data.get("compare_rev", "an earlier tree")
    for name in ("verify", "token", "introspect"):
        labels[f"{name}_before"] = f"{labels[name]}: the code of {before}"
    rows = []
    for name, rps in med.items():
        per_round = sorted(r["rps"] / f["rps"] for r, f in zip(runs[name], runs["floor"]))
        ratio = rps / floor
        extra = f" ({_f(cpu[name], 1)} µs CPU/req)" if name in cpu else ""
        goal, met = _goal_ratio(ratio, goals[name]) if name in goals else ("", None)
        rows.append(Row(labels.get(name, name), f"{_f(rps)} req/s{extra}", f"{_f(floor)} req/s",
                        f"{ratio:.2f} (rounds {', '.join(f'{x:.2f}' for x in per_round)})", goal, met))
    cost = logging_cost(runs)
    if cost is not None:
        rows.append(Row("what the default logging costs verify (CPU a request, median of paired rounds)",
                        f"{cost * 100:+.1f} %", "verify_quiet ÷ verify_logged", f"{1 - cost:.2f}", "≤ 5 %", cost <= 0.05))
    if "mw_key" in med and "mw_none" in med:
        ratio = med["mw_key"] / med["mw_none"]
        goal, met = _goal_ratio(ratio, 0.9)
        rows.append(Row("KeyplaneMiddleware ÷ no authentication", f"{_f(med['mw_key'])} req/s",
                        f"{_f(med['mw_none'])} req/s", f"{ratio:.2f}", goal, met))
    if "mw_key" in med and "drf" in med:
        rows.append(Row("KeyplaneMiddleware ÷ DRF + djangorestframework-api-key", f"{_f(med['mw_key'])} req/s",
                        f"{_f(med['drf'])} req/s", f"{med['mw_key'] / med['drf']:.1f}"))
    if "half_rate" in data:
        half = data["half_rate"]
        floor_p99 = half["floor"]["p99_ms"] if "floor" in half else float("nan")
        rows.append(Row(f"verify p99 at {_f(half['rps'])} req/s (half its maximum; p50 "
                        f"{half['p50_ms']:.2f} ms)", f"{half['p99_ms']:.2f} ms",
                        f"floor at the same pace: p99 {floor_p99:.2f} ms", "",
                        "≤ 5 ms", half["p99_ms"] <= 5.0))
    if "count_check" in data:
        check = data["count_check"]
        rows.append(Row("usage records written ÷ verifications answered", _f(check["written"]),
                        _f(check["answered"]), f"{check['written'] / max(check['answered'], 1):.4f}",
                        "= 1", check["equal"]))
    if "rss" in data:
        rss = data["rss"]
        rows.append(Row(f"RSS of one worker after {_f(rss['verified'])} verifications of distinct keys, "
                        "1,000,000 stored", f"{rss['end_mb']:.0f} MB", f"{rss['start_mb']:.0f} MB at start",
                        "", "≤ 300 MB", rss["end_mb"] <= 300))
    return rows


def _verify_http(data: dict[str, Any]) -> list[Row]:
    med = data["median"]
    rows = [Row("bare (plain ASGI route, same app)", f"{_f(med['bare'])} req/s", ratio="1.00")]
    for name in ("bare_request", "verify"):
        if name in med:
            ratio = med[name] / med["bare"]
            goal, met = _goal_ratio(ratio, 0.50) if name == "verify" else ("", None)
            rows.append(Row(name, f"{_f(med[name])} req/s", f"{_f(med['bare'])} req/s",
                            f"{ratio:.2f}", goal, met))
    return rows


def _verify_http_pg(data: dict[str, Any]) -> list[Row]:
    """`_verify_http`'s rows without the goal: it is counted once, on the embedded default."""
    return [Row(r.target, r.figure, r.baseline, r.ratio) for r in _verify_http(data)]


def _oauth_http_pg(data: dict[str, Any]) -> list[Row]:
    """`_oauth_http`'s rows without the goals: they are counted once, on the embedded default."""
    return [Row(r.target, r.figure, r.baseline, r.ratio) for r in _oauth_http(data)]


def _many_rounds_args(args: argparse.Namespace) -> list[str]:
    """Half as long a run, three times as many: a neighbour's burst then weighs on fewer
    of the rounds whose median is the figure (bench/NOTES.md §16). For the figures whose
    goal is near the line: metering's overhead, the token endpoint."""
    return ["--duration", str(max(2, args.duration // 2)), "--rounds", str(args.rounds * 3)]


def _metering_http(data: dict[str, Any]) -> list[Row]:
    med, cpu, summary = data["median"], data.get("cpu_us", {}), data.get("summary", {})
    rows = []
    for name in ("bare", "plain", "metered_mem", "metered_redis"):
        if name in med:
            extra = f" ({_f(cpu[name], 1)} µs CPU/req)" if name in cpu else ""
            rows.append(Row(name, f"{_f(med[name])} req/s{extra}", f"{_f(med['bare'])} req/s",
                            f"{med[name] / med['bare']:.2f}"))
    goals = {"metered_mem": 0.15, "metered_redis": 0.35}
    for name, goal in goals.items():
        if name in summary:
            over = summary[name]["overhead"]
            rows.append(Row(f"overhead {name} vs plain", f"+{over * 100:.1f} %", "plain",
                            f"{1 + over:.2f}", f"≤ +{goal * 100:.0f} %", over <= goal))
            if "cpu_overhead" in summary[name]:  # steadier than req/s on a shared machine; no goal
                cpu_over = summary[name]["cpu_overhead"]
                rows.append(Row(f"server CPU per request, {name} vs plain", f"{cpu_over * 100:+.1f} %",
                                "plain", f"{1 + cpu_over:.2f}"))
    return rows


def _oauth_http(data: dict[str, Any]) -> list[Row]:
    med, per_round = data["median"], data["per_round"]
    goals = {"token": 0.30, "introspect": 0.40}
    rows = []
    for name in med:
        ratio = sorted(per_round[name])[len(per_round[name]) // 2]
        goal, met = _goal_ratio(ratio, goals[name]) if name in goals else ("", None)
        rows.append(Row(name, f"{_f(med[name])} req/s", f"{_f(med['bare'])} req/s",
                        f"{ratio:.2f}", goal, met))
    return rows


def _refresh_http(data: dict[str, Any]) -> list[Row]:
    med = data["median"]
    base = med["bare"]
    return [Row(name, f"{_f(v)} req/s", f"{_f(base)} req/s", f"{v / base:.2f}")
            for name, v in med.items()]


_SDK_CASES = {
    "jose_decode": "keyplane's JOSE layer alone (decode_jwt)",
    "jwt_first": "Verifier, a JWT seen for the first time (full check)",
    "jwt_sync": "Verifier.verify_sync, the same JWT again",
    "jwt_async": "Verifier.verify, the same JWT again",
    "key_sync": "Verifier.verify_sync, a cached API key",
    "key_async": "Verifier.verify, a cached API key",
}


def _sdk_verifier(data: dict[str, Any]) -> list[Row]:
    us, raw = data["us_per_call"], data["us_per_call"]["raw_es256"]
    rows = [Row("raw `cryptography` ES256 verification of the same token", f"{raw:.1f} µs", ratio="1.00")]
    for case, label in _SDK_CASES.items():
        if case not in us:
            continue
        ratio = data["ratio_to_raw_es256"][case]
        fastest = data["fastest_ratio_to_raw_es256"][case]
        goal, met = _goal_ratio(ratio, 1.3, at_least=False) if case != "jose_decode" else ("", None)
        rows.append(Row(label, f"{us[case]:.1f} µs/call", f"{raw:.1f} µs",
                        f"{ratio:.2f} (fastest blocks {fastest:.2f})", goal, met))
    return rows


def _verify_inprocess(data: list[dict[str, Any]]) -> list[Row]:
    rows = []
    by_backend: dict[str, list[dict[str, Any]]] = {}
    for res in data:
        by_backend.setdefault(res["backend"], []).append(res)
        us = res["us"]
        rows.append(Row(f"{res['backend']}, {res['size']:,} keys: cold / hot verify",
                        f"{us['cold']:.1f} / {us['hot']:.1f} µs", f"{us['raw']:.1f} µs (raw HMAC + SELECT)",
                        f"{us['cold'] / us['raw']:.2f} / {us['hot'] / us['raw']:.2f}"))
    for backend, results in by_backend.items():
        if len(results) >= 2:
            small, big = results[0], results[-1]
            ratio = big["us"]["cold"] / small["us"]["cold"]
            goal, met = _goal_ratio(ratio, 1.2, at_least=False)
            rows.append(Row(f"{backend}: {big['size']:,} vs {small['size']:,} keys (cold)",
                            f"×{ratio:.2f}", "", f"{ratio:.2f}", goal, met))
    return rows


PG_URL = os.environ.get("KEYPLANE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")

BENCHES = [
    Bench("defaults", "What users get: `keyplane serve` defaults on one pinned core", "defaults.py",
          lambda a: [*_wrk_args(a), "--rss", *(["--compare-src", a.compare_src] if a.compare_src else [])],
          _defaults,
          "`keyplane serve` started as the README does (a data directory and a root key, nothing "
          "else set), every server pinned to core 0 (`taskset -c 0`), wrk -t1 -c32 pinned to core 1, "
          "targets in turn round by round; ratios to the floor measured in the same rounds; "
          "server CPU µs per request from /proc (steadier than req/s on a shared machine)."),
    Bench("verify_http", "API-key verification over HTTP", "verify_http.py", _wrk_args, _verify_http,
          "POST /v1/keys/verify of a plain key (no limits, no credits) on one `keyplane serve` worker, "
          "SQLite, wrk -t1 -c32; bare = the same app with a plain ASGI endpoint in front.",
          counted=False),
    Bench("verify_http_pg", "API-key verification over HTTP on PostgreSQL", "verify_http.py",
          lambda a: [*_wrk_args(a), "--postgres", PG_URL], _verify_http_pg,
          "the same as verify_http with keyplane on a PostgreSQL database of its own (127.0.0.1, "
          "a fresh database for the run); keys kept in memory, dropped on PostgreSQL's notices.",
          counted=False),
    Bench("metering_http", "Metering on the verify path", "metering_http.py", _many_rounds_args, _metering_http,
          "plain key vs a key with two rate limits and credits, in memory and on Redis "
          "(usage recording on for all); overhead = plain / metered − 1, median of the rounds "
          "(shorter runs, three times as many rounds, every other one in reverse order; each "
          "run waits for its own usage flush).",
          counted=False),
    Bench("oauth_http", "OAuth endpoints over HTTP", "oauth_http.py",
          lambda a: [*_many_rounds_args(a), "--max-wait", "60"], _oauth_http,
          "token = client_credentials with Basic auth, an ES256 JWT each; introspect = RFC 7662 of "
          "that JWT; jwks; bare_tail = the bare endpoint at the end of the routing table.",
          counted=False),
    Bench("oauth_http_pg", "OAuth endpoints over HTTP on PostgreSQL", "oauth_http.py",
          lambda a: [*_many_rounds_args(a), "--max-wait", "60", "--only", "token,introspect",
                     "--postgres", PG_URL], _oauth_http_pg,
          "token and introspect as in oauth_http, keyplane on a PostgreSQL database of its own; "
          "clients and unrevoked tokens kept in memory, dropped on PostgreSQL's notices.",
          counted=False),
    Bench("refresh_http", "Refresh-token grants over HTTP", "refresh_http.py", _wrk_args, _refresh_http,
          "grant_type=refresh_token, one single-use refresh token a request, rotated each time.",
          counted=False),
    Bench("sdk_verifier", "The verifier SDK, in process", "sdk_verifier.py", lambda a: [], _sdk_verifier,
          "keyplane.Verifier µs per call for a cached API key and for a JWT, next to raw "
          "`cryptography` ECDSA P-256 verification of the same token."),
    Bench("verify_inprocess", "Verify with 10k vs 1M keys in the store", "verify_inprocess.py",
          lambda a: ["--sizes", "10000", "1000000", "--rounds", "5"], _verify_inprocess,
          "KeyService.verify in process on SQLite; cold = a key not looked up since the last write, "
          "hot = the same key again; raw = HMAC + one SELECT on a held sqlite3 connection."),
]


# --- the machine ------------------------------------------------------------------------------

def _cmd_version(*cmd: str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "not found"


def machine() -> list[str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    packages = ["granian", "uvicorn", "uvloop", "httptools", "fastapi", "starlette", "sqlalchemy", "msgspec",
                "cryptography", "joserfc", "redis", "prometheus-client", "argon2-cffi"]
    versions = []
    for name in packages:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical CPUs; kernel {platform.release()}",
        f"- CPython {platform.python_version()}, SQLite {sqlite3.sqlite_version}",
        f"- {', '.join(versions)}",
        ("- HTTP server of keyplane and of the bare endpoints: "
         f"{os.environ.get('KEYPLANE_SERVER', 'uvicorn')} (KEYPLANE_SERVER)"),
        f"- wrk: {_cmd_version('wrk', '-v')}; Redis: {_cmd_version('redis-server', '--version')}",
    ]


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if shutil.which("apt-get") is None:
        raise SystemExit("wrk is missing and there is no apt-get: install wrk first")
    print("installing wrk (apt-get)…", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)


# --- running and writing ------------------------------------------------------------------------

def run(bench: Bench, args: argparse.Namespace, tmp: Path) -> tuple[list[Row] | None, str, float]:
    """The bench's rows (None when it failed), its command line, its duration."""
    out = tmp / f"{bench.name}.json"
    cmd = [PYTHON, str(BENCH / bench.script), *bench.args(args), "--json", str(out)]
    shown = " ".join(["python", f"bench/{bench.script}", *bench.args(args)])
    print(f"== {bench.name}: {shown}", file=sys.stderr)
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, timeout=args.timeout)
    took = time.monotonic() - started
    if done.returncode != 0 or not out.exists():
        print(f"   {bench.name} FAILED (exit {done.returncode})", file=sys.stderr)
        return None, shown, took
    if args.keep:
        shutil.copy(out, Path(args.keep) / out.name)
    try:
        return bench.rows(json.loads(out.read_text())), shown, took
    except (KeyError, TypeError, ValueError, ZeroDivisionError):  # a script's JSON changed shape
        traceback.print_exc()
        print(f"   {bench.name}: its JSON could not be read", file=sys.stderr)
        return None, shown, took


def _previous(out: Path, ran: set[str]) -> tuple[list[str], dict[str, list[str]]]:
    """From the file `--only` rewrites: the goal rows and sections of the benchmarks that did
    not run this time (their figures stand, with the date of their own run in their section)."""
    previous = out.read_text() if out.exists() else ""
    previous = previous.split(KEPT_MARK)[0]
    goal_rows = [_counted_or_not(line) for line in previous.splitlines()
                 if line.startswith("| ") and line.split("|")[1].strip() in {b.name for b in BENCHES} - ran]
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in previous.splitlines():
        if line.startswith("## "):
            name = line.rsplit("(`", 1)[-1].rstrip(")`") if line.endswith("`)") else None
            current = name if name in {b.name for b in BENCHES} - ran else None
            if current is not None:
                sections[current] = [line]
            continue
        if current is not None:
            sections[current].append(line)
    written = re.search(r"Written by `bench/run_all.py` on (\d{4}-\d{2}-\d{2})", previous)
    for lines in sections.values():  # a section from before dates were written in each: dated now
        for i, line in enumerate(lines):
            if line.startswith("Command: ") and written and not re.search(r"\d{4}-\d{2}-\d{2}\)$", line):
                lines[i] = re.sub(r"\(([^()]*)\)$", rf"(\1, {written.group(1)})", line)
    return goal_rows, {name: lines[:-1] if lines and not lines[-1] else lines
                       for name, lines in sections.items()}


def _verdict(bench: Bench, met: str) -> str:
    return met if bench.counted else f"{met}; {NOT_COUNTED}"


def _counted_or_not(goal_row: str) -> str:
    """A goal row kept from an earlier run, saying so when its benchmark's goals do not count."""
    bench = next(b for b in BENCHES if b.name == goal_row.split("|")[1].strip())
    if bench.counted or NOT_COUNTED in goal_row:
        return goal_row
    return goal_row.rstrip().removesuffix(" |") + f"; {NOT_COUNTED} |"


def render(results: list[tuple[Bench, list[Row] | None, str, float]], started: datetime,
           args: argparse.Namespace) -> str:
    ran = {bench.name for bench, _, _, _ in results}
    kept_goals, kept_sections = _previous(Path(args.out), ran) if args.only else ([], {})
    lines = [
        "# Benchmark results",
        "",
        (f"Written by `bench/run_all.py` on {started:%Y-%m-%d %H:%M} UTC "
         f"(wrk runs of {args.duration} s, {args.rounds} rounds, alternating targets round by round"
         + (f"; this run: {', '.join(sorted(ran))}, the other sections from earlier runs, each "
            "dated in its own section" if args.only else "") + "). "
         "Every figure is next to a baseline measured in the same run on the same machine: the "
         "machine is shared and noisy, so read the ratios first. What the profiles showed and what "
         "changed because of them: [NOTES.md](NOTES.md)."),
        "",
        "## Machine and versions",
        "",
        *machine(),
        "",
        "## Goals",
        "",
        "| benchmark | target | figure | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for bench, rows, _, _ in results:
        for row in rows or []:
            if row.goal:
                lines.append(f"| {bench.name} | {row.target} | {row.figure} | {row.ratio} | "
                             f"{row.goal} | {_verdict(bench, 'yes' if row.met else '**no**')} |")
    lines += kept_goals
    for bench, rows, shown, took in results:
        lines += ["", f"## {bench.title} (`{bench.name}`)", "", bench.note, "",
                  f"Command: `.venv/bin/{shown}` ({took / 60:.1f} min, {started:%Y-%m-%d})", ""]
        if rows is None:
            lines.append("**Failed in this run**: see the script's output.")
            continue
        lines += ["| target | figure | baseline (same run) | ratio | goal |", "|---|---|---|---|---|"]
        for row in rows:
            goal = (f"{row.goal} ({_verdict(bench, 'met' if row.met else '**not met**')})"
                    if row.goal else "")
            lines.append(f"| {row.target} | {row.figure} | {row.baseline} | {row.ratio} | {goal} |")
    for name, section in kept_sections.items():
        lines += ["", *section]
    return "\n".join(lines) + "\n"


KEPT_MARK = "<!-- sections below are written by hand or other scripts; run_all.py keeps them -->"


def _kept(out: Path) -> str:
    """What follows KEPT_MARK in the previous file (bench/faults.py, bench/soak.py figures)."""
    previous = out.read_text() if out.exists() else ""
    at = previous.find(KEPT_MARK)
    return "" if at < 0 else "\n" + previous[at:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds a wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated: " + ", ".join(b.name for b in BENCHES))
    parser.add_argument("--out", default=str(BENCH / "RESULTS.md"))
    parser.add_argument("--timeout", type=int, default=1800, help="seconds a benchmark at most")
    parser.add_argument("--compare-src", metavar="DIR", help="defaults: also the source tree in "
                        "DIR (a checkout of an earlier commit), in the same rounds")
    parser.add_argument("--keep", metavar="DIR", help="also keep each benchmark's JSON in DIR")
    args = parser.parse_args()
    if not 1 <= args.duration <= 30 or not 1 <= args.rounds <= 10:
        raise SystemExit("--duration 1..30 and --rounds 1..10: runs stay bounded")
    chosen = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    chosen = [b for b in chosen if (BENCH / b.script).exists()]
    ensure_wrk()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="keyplane-bench-") as tmp:
        results = [(b, *run(b, args, Path(tmp))) for b in chosen]
    Path(args.out).write_text(render(results, started, args) + _kept(Path(args.out)))
    print(f"wrote {args.out}", file=sys.stderr)
    if any(rows is None for _, rows, _, _ in results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
