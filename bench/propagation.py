"""How long a change takes to reach a running `Verifier` on another replica: p50 and p100.

Starts two `keyplane serve` replicas (one worker each) on one PostgreSQL database made for
the run (dropped after it) and one Redis, a `Verifier` following the first, and makes every
change on the second:

- `key_revoke`: a key verified (and cached) is revoked; until the verifier refuses it;
- `client_delete`: a client whose JWT the verifier accepted is deleted; until refused;
- `signing_key_rotate`: an immediate rotation; until the verifier holds the new key and
  refuses a token of the withdrawn one.

Each trial starts when the write's HTTP answer arrives and polls the verifier every 1 ms.
The verifier keeps every default bound (revocation poll 5 s, JWKS max age 1 h): what
arrives within a second was pushed (`GET /v1/keys/changes`). tests/live/test_live_propagation.py
checks the same at 20 trials with a 1 s bound; this measures the distribution.

Run: .venv/bin/python bench/propagation.py [--trials 100] [--postgres URL] [--redis URL]
Takes ~1 min at 100 trials; loopback only. Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from verify_http import ROOT_KEY, _free_port, _pg_database, _pg_drop, _start, _stop, _wait_ready

from keyplane import AuthError, Verifier

KEYPLANE = str(Path(sys.executable).parent / "keyplane")
AUDIENCE = "https://documents.example.com"
GIVE_UP_SECONDS = 10.0


def _serve(tmp: Path, name: str, env: dict[str, str]) -> tuple[str, Any]:
    port = _free_port()
    home = tmp / name
    home.mkdir()
    proc = _start([KEYPLANE, "serve", "--host", "127.0.0.1", "--port", str(port)],
                  {**env, "KEYPLANE_DATA_DIR": str(home)}, home / "serve.log")
    url = f"http://127.0.0.1:{port}"
    _wait_ready(url + "/healthz", proc)
    return url, proc


def _until(done: Callable[[], bool], what: str = "a change") -> float:
    started = time.perf_counter()
    while not done():
        if time.perf_counter() - started > GIVE_UP_SECONDS:
            raise SystemExit(f"{what} took over {GIVE_UP_SECONDS} s to arrive")  # a bug: look
        time.sleep(0.001)
    return time.perf_counter() - started


def _refused(verifier: Verifier, header: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            verifier.verify_sync(header)
        except AuthError:
            return True
        return False

    return check


KINDS = ("key_revoke", "client_delete", "signing_key_rotate")


def _measure(second: str, verifier: Verifier, trials: int, kinds: set[str]) -> dict[str, list[float]]:
    admin = httpx.Client(base_url=second, timeout=10.0, headers={"Authorization": f"Bearer {ROOT_KEY}"})
    api_id = verifier.api_id

    def ok(response: httpx.Response, status: int) -> Any:
        if response.status_code != status:
            raise SystemExit(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def client() -> dict[str, Any]:
        return ok(admin.post("/v1/clients", json={
            "name": "reader", "type": "confidential", "grant_types": ["client_credentials"],
            "scopes": ["documents.read"], "audiences": [AUDIENCE], "token_format": "jwt"}), 201)

    def token(made: dict[str, Any]) -> str:
        return ok(httpx.post(f"{second}/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(made["client_id"], made["client_secret"])), 200)["access_token"]

    times: dict[str, list[float]] = {kind: [] for kind in KINDS if kind in kinds}
    reader = client()
    for trial in range(trials):
        if "key_revoke" in kinds:
            key = ok(admin.post("/v1/keys", json={"api_id": api_id}), 201)
            header = f"Bearer {key['key']}"
            verifier.verify_sync(header)
            ok(admin.post(f"/v1/keys/{key['id']}/revoke"), 200)
            times["key_revoke"].append(_until(_refused(verifier, header), f"key_revoke #{trial}"))
        if "client_delete" in kinds:
            doomed = client()
            header = f"Bearer {token(doomed)}"
            verifier.verify_sync(header)
            ok(admin.delete(f"/v1/clients/{doomed['client_id']}"), 204)
            times["client_delete"].append(_until(_refused(verifier, header), f"client_delete #{trial}"))
        if "signing_key_rotate" in kinds:
            header = f"Bearer {token(reader)}"
            verifier.verify_sync(header)
            kid = ok(admin.post("/v1/signing-keys/rotate", json={"immediate": True}), 201)["kid"]
            times["signing_key_rotate"].append(
                _until(lambda: kid in verifier.jwks.keys and _refused(verifier, header)(),  # noqa: B023
                       f"signing_key_rotate #{trial}"))
    admin.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--only", default=",".join(KINDS), help="comma-separated: " + ", ".join(KINDS))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    trials = max(1, min(args.trials, 1000))
    databases: list[str] = []
    procs = []
    verifier = None
    try:
        with tempfile.TemporaryDirectory(prefix="kp-propagation-") as tmp:
            env = {k: v for k, v in os.environ.items() if not k.startswith("KEYPLANE_")}
            env.update(KEYPLANE_ROOT_KEY=ROOT_KEY, KEYPLANE_REDIS_URL=args.redis,
                       KEYPLANE_DATABASE_URL=_pg_database(args.postgres, databases),
                       KEYPLANE_SECRET_KEY="bench-secret-" + "s" * 40, KEYPLANE_LOG_LEVEL="warning",
                       KEYPLANE_CONFIG=str(Path(tmp) / "no-keyplane.toml"))
            first, proc = _serve(Path(tmp), "first", env)
            procs.append(proc)
            second, proc = _serve(Path(tmp), "second", {**env, "KEYPLANE_ISSUER": first})
            procs.append(proc)
            api = httpx.post(f"{second}/v1/apis", json={"name": "documents"},
                             headers={"Authorization": f"Bearer {ROOT_KEY}"}).json()
            verifier = Verifier(issuer=first, audience=AUDIENCE, api_id=api["id"], root_key=ROOT_KEY)
            if not verifier.wait_ready(10):
                raise SystemExit("the verifier did not get ready")
            try:
                times = _measure(second, verifier, trials, set(args.only.split(",")))
            except SystemExit:
                print("verifier:", verifier.stats(), file=sys.stderr)
                for proc in procs:
                    print(f"--- {proc.log_path}:\n" + proc.log_path.read_text(errors="replace")[-3000:],
                          file=sys.stderr)
                raise
    finally:
        if verifier is not None:
            verifier.close()
        for proc in procs:
            _stop(proc)
        _pg_drop(args.postgres, databases)
    figures = {what: {"trials": len(ms), "p50_ms": round(statistics.median(ms) * 1000, 2),
                      "p100_ms": round(max(ms) * 1000, 2)} for what, ms in times.items()}
    print(f"propagation to a Verifier on another replica, {trials} trials each (ms):")
    for what, f in figures.items():
        print(f"  {what:20} p50 {f['p50_ms']:8.2f}   p100 {f['p100_ms']:8.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
