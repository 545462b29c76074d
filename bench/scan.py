"""MB/s of `keyplane scan` on plain files and on git history, against same-run baselines.

It generates a repository in a temp directory (removed at the end): `--mb` MB of text
files (slices of keyplane's own sources and docs, each file made unique by a header line)
with a real key planted in every 50th file and a look-alike (wrong checksum) in every 20th,
committed; then two more commits each rewrite a quarter of the files, so history holds
about 1.5 times the work tree. Every figure is the median of `--rounds` runs:

- plain files: `scan_files` in process (the scanner alone), and the `keyplane scan --json
  DIR` command (a process: start-up, walk, output); baselines over the same bytes: `grep
  -r -c -F` of a fixed string, and Python reading every file and `re.finditer` of a
  trivial pattern (`_kp`).
- git: the `keyplane scan --git --json DIR` command (history and work tree); baselines:
  `git cat-file --batch-all-objects --batch` into /dev/null (git's own read of every
  object), and keyplane's blob listing and read (`git_history`) without the scan.

MB/s are given per CPU second (this process and its children, git's included: what one
core does, whatever else the shared machine runs) and per wall second. The figures are
checked: the planted keys are found, no look-alike is. Pin it to one core (git's
processes inherit the pin):

    taskset -c 1 .venv/bin/python bench/scan.py [--mb 200] [--rounds 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keyplane.credentials.format import generate_key, is_well_formed
from keyplane.leaks.git_history import contents, history
from keyplane.leaks.scan import DEFAULT_MAX_BYTES, Tally, scan_files

ROOT = Path(__file__).resolve().parent.parent
FILE_BYTES = 100_000
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def corpus() -> str:
    """keyplane's own text: code with many underscores, docs with long words."""
    files = sorted([*ROOT.glob("src/**/*.py"), *ROOT.glob("tests/**/*.py"), *ROOT.glob("docs/*.md")])
    return "".join(f.read_text(errors="replace") for f in files)


def lookalike(rng: random.Random) -> str:
    while True:
        key = generate_key("sk_live")
        fake = key[:-1] + rng.choice("ABCDEFGH")
        if not is_well_formed(fake):
            return fake


def generate(repo: Path, megabytes: int, rng: random.Random) -> dict[str, int]:
    text = corpus()
    count = megabytes * 1_000_000 // FILE_BYTES
    planted = 0

    def content(i: int, round_: int) -> str:
        nonlocal planted
        start = rng.randrange(len(text) - FILE_BYTES)
        body = text[start:start + FILE_BYTES]
        lines = [f"# file {i} round {round_} {rng.random()}", body]
        if i % 50 == 0:
            planted += 1
            lines.insert(1, f'API_KEY = "{generate_key("sk_live")}"')
        if i % 20 == 0:
            lines.insert(1, f'NOT_A_KEY = "{lookalike(rng)}"')
        return "\n".join(lines)

    repo.mkdir()
    git = ["git", "-C", str(repo)]
    env = {**os.environ, **GIT_ENV}
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True, env=env)
    for round_ in range(3):
        # round 0 writes every file; rounds 1 and 2 rewrite a quarter each
        for i in range(count) if round_ == 0 else range(round_ - 1, count, 4):
            (repo / f"d{i % 40:02d}").mkdir(exist_ok=True)
            (repo / f"d{i % 40:02d}" / f"f{i:05d}.py").write_text(content(i, round_))
        subprocess.run([*git, "add", "-A"], check=True, env=env)
        subprocess.run([*git, "commit", "-q", "-m", f"round {round_}"], check=True, env=env)
    return {"files": count, "in_tree": len(range(0, count, 50)), "in_history": planted}


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (and theirs)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def best_of(rounds: int, run: Callable[[], Any]) -> tuple[dict[str, float], Any]:
    """Median CPU and wall seconds of `rounds` runs, and the last run's answer."""
    cpu, wall, answer = [], [], None
    for _ in range(rounds):
        started, started_cpu = time.perf_counter(), _cpu()
        answer = run()
        wall.append(time.perf_counter() - started)
        cpu.append(_cpu() - started_cpu)
    return {"cpu": statistics.median(cpu), "wall": statistics.median(wall)}, answer


def keyplane_scan(*args: str) -> dict[str, Any]:
    script = Path(sys.executable).with_name("keyplane")
    done = subprocess.run([str(script), "scan", "--json", *args], capture_output=True,
                          env={k: v for k, v in os.environ.items() if not k.startswith("KEYPLANE_")})
    if done.returncode not in (0, 1):
        raise SystemExit(f"keyplane scan failed: {done.stderr.decode()}")
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="MB of text in the work tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()
    if not 10 <= options.mb <= 1000:
        raise SystemExit("--mb: 10 to 1000")

    work = Path(tempfile.mkdtemp(prefix="keyplane-bench-scan-"))
    try:
        repo = work / "repo"
        started = time.perf_counter()
        made = generate(repo, options.mb, random.Random(16))
        print(f"generated {made['files']} files in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)
        figures = measure(repo, made, options.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2))


def measure(repo: Path, made: dict[str, int], rounds: int) -> dict[str, Any]:
    files = sorted(p for p in repo.rglob("*.py") if ".git" not in p.parts)
    tree_bytes = sum(p.stat().st_size for p in files)
    trivial = re.compile(rb"_kp")

    def raw_re() -> int:
        return sum(sum(1 for _ in trivial.finditer(p.read_bytes())) for p in files)

    def in_process() -> int:
        tally = Tally()
        found = list(scan_files([repo], tally))
        assert tally.byte_count == tree_bytes, (tally.byte_count, tree_bytes)
        return len(found)

    def grep() -> None:
        subprocess.run(["grep", "-r", "-c", "-F", "--exclude-dir=.git", "kp_zz_absent", str(repo)],
                       stdout=subprocess.DEVNULL, check=False)

    def git_read() -> None:
        subprocess.run(["git", "-C", str(repo), "cat-file", "--batch-all-objects", "--batch"],
                       stdout=subprocess.DEVNULL, check=True)

    def listing_and_read() -> int:
        found = history(repo, max_bytes=DEFAULT_MAX_BYTES)
        return sum(len(data) for _, data in contents(found.top, found.blobs))

    mb = tree_bytes / 1e6
    plain: dict[str, dict[str, float]] = {}
    plain["grep -r -c -F"], _ = best_of(rounds, grep)
    plain["python re.finditer(rb'_kp')"], _ = best_of(rounds, raw_re)
    plain["scan_files (in process)"], found = best_of(rounds, in_process)
    assert found == made["in_tree"], (found, made["in_tree"])
    plain["keyplane scan --json DIR"], answer = best_of(rounds, lambda: keyplane_scan(str(repo)))
    assert len(answer["items"]) == made["in_tree"]

    git: dict[str, dict[str, float]] = {}
    git["git cat-file --batch-all-objects --batch"], _ = best_of(rounds, git_read)
    git["keyplane blob listing + read, no scan"], history_bytes = best_of(rounds, listing_and_read)
    git["keyplane scan --git --json DIR"], answer = best_of(
        rounds, lambda: keyplane_scan("--git", str(repo)))
    scanned = answer["scanned"]["bytes"]
    assert len({item["token_hash"] for item in answer["items"]}) == made["in_history"]

    git_mb = {k: (scanned if "scan --git" in k else history_bytes) / 1e6 for k in git}
    return {
        "plain": {"bytes": tree_bytes, "seconds": plain,
                  "mb_per_cpu_s": {k: mb / v["cpu"] for k, v in plain.items()},
                  "mb_per_wall_s": {k: mb / v["wall"] for k, v in plain.items()}},
        "git": {"history_bytes": history_bytes, "scanned_bytes": scanned, "seconds": git,
                "mb_per_cpu_s": {k: git_mb[k] / v["cpu"] for k, v in git.items()},
                "mb_per_wall_s": {k: git_mb[k] / v["wall"] for k, v in git.items()}},
        "findings": {"work tree": made["in_tree"], "history": made["in_history"]},
    }


if __name__ == "__main__":
    main()
