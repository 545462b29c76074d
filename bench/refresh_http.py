"""The refresh_token grant over real HTTP against a bare endpoint of the same stack.

Every refresh token is single-use, so the load needs a pool of fresh ones. Before any
server starts, this script opens keyplane's services on the benchmark's data directory (as
`keyplane serve` will), registers a confidential client (client_secret_basic, grants
device_code + refresh_token, one scope, one audience, JWT access tokens) and starts one
refresh-token family per token it will send (`RefreshTokenService.start_family`, the call
the user-facing grants make, its rows written in bulk). Each wrk run reads its own file of unused tokens (a Lua
script takes the next line per request), so no token is presented twice and every request
is a real rotation: client authentication, one lookup, the rotation transaction (family
lock, conditional UPDATE, INSERT of the successor) and an ES256 access token.

Then one `keyplane serve` (one worker, SQLite) and one uvicorn server for the bare endpoint
(`bench/bare_app.py` via `oauth_http.create_bare_app`, under the options `keyplane serve`
uses) run; wrk (1 thread, 32 connections) alternates endpoints round by round:

- refresh   POST /oauth/token, grant_type=refresh_token, Basic auth, a fresh token each
- token     POST /oauth/token, grant_type=client_credentials of a second client (a
            stateless grant on the same endpoint, for scale)
- bare      POST /v1/bench/bare with the same script and bodies (fixed JSON answer)

and reports req/s and ratios to the bare endpoint per round.

Run: .venv/bin/python bench/refresh_http.py [--duration 10] [--rounds 3] [--pool 30000] [--max-wait 120]
     [--json FILE]
Needs wrk. Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/ is not a package: its helpers come from the directory put on sys.path above.
import oauth_http
from oauth_http import _form_call, _ms, _wait_for_quiet
from verify_http import (
    PYTHON,
    ROOT_KEY,
    SECRET,
    _free_port,
    _start,
    _stop,
    _wait_ready,
    _wrk,
    bare_command,
)

SCOPE = "documents.read"
AUDIENCE = "https://api.example.com"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"

# One token a request, in file order; when a run outlasts its file the rest are sent empty
# (and answered 400: counted as non-2xx, so a short pool shows).
LUA = """\
local tokens = {{}}
local i = 0
function init(args)
  for line in io.lines({path}) do tokens[#tokens + 1] = line end
end
function request()
  i = i + 1
  local token = tokens[i] or ""
  return wrk.format("POST", nil, {{["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = {basic}}}, "grant_type=refresh_token&refresh_token=" .. token)
end
"""

FIXED = """\
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = {basic}
"""


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class _Collect:
    """A RefreshTokenRepository that keeps what `start_family` stores, to be written in
    bulk: one transaction a token would take minutes for the pool; the tokens, hashes and
    rows are still made by the service."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, Any]] = []

    async def start_family(self, family: Any, first: Any) -> None:
        self.rows.append((family, first))

    async def prune(self, now: Any) -> int:
        return 0


async def _write(db: Any, rows: list[tuple[Any, Any]]) -> None:
    from keyplane.store.tables import refresh_families, refresh_tokens

    for start in range(0, len(rows), 5_000):
        chunk = rows[start:start + 5_000]
        async with db.transaction() as conn:
            await conn.execute(refresh_families.insert(), [
                {"id": f.id, "client_id": f.client_id, "subject": f.subject,
                 "scope": " ".join(f.scope), "audience": json.dumps(list(f.audience)),
                 "created_at": f.created_at, "expires_at": f.expires_at} for f, _ in chunk])
            await conn.execute(refresh_tokens.insert(), [
                {"id": t.id, "token_hash": t.token_hash, "family_id": t.family_id,
                 "issued_at": t.issued_at, "idle_expires_at": t.idle_expires_at,
                 "access_jti": t.access_jti, "access_expires_at": t.access_expires_at}
                for _, t in chunk])


async def _prepare(env: dict[str, str], files: list[Path], per_file: int) -> dict[str, str]:
    """Clients and `per_file` refresh tokens a file, made by keyplane's own services on the
    data directory the server will use."""
    from keyplane.audit.events import SYSTEM
    from keyplane.config import load_settings
    from keyplane.credentials.hashing import KeyHasher
    from keyplane.oauth.clients import ClientFields
    from keyplane.oauth.refresh_tokens import RefreshTokenService
    from keyplane.secret_key import load_secret_key
    from keyplane.services import open_services

    settings = load_settings(env)
    services = await open_services(settings)
    try:
        refresh = await services.clients.create_client(SYSTEM, ClientFields(
            name="bench device", grant_types=(DEVICE_GRANT, "refresh_token"), scopes=(SCOPE,),
            audiences=(AUDIENCE,), token_format="jwt", auth_method="client_secret_basic",
            refresh_token_ttl_seconds=86_400))
        stateless = await services.clients.create_client(SYSTEM, ClientFields(
            name="bench job", grant_types=("client_credentials",), scopes=(SCOPE,),
            audiences=(AUDIENCE,), token_format="jwt", auth_method="client_secret_basic"))
        assert refresh.secret and stateless.secret
        started = time.perf_counter()
        collect = _Collect()
        service = RefreshTokenService(collect, services.tokens,  # type: ignore[arg-type]
                                      KeyHasher(load_secret_key(settings)), services.clock,
                                      services.refresh_tokens.policy, audit=services.audit_writer)
        for path in files:
            lines = []
            for _ in range(per_file):
                token, _family = await service.start_family(
                    refresh.client, subject="usr_bench", scope=(SCOPE,), audience=(AUDIENCE,),
                    access_jti=None)
                lines.append(token)
            path.write_text("\n".join(lines) + "\n")
        await _write(services.db, collect.rows)
        print(f"  pool: {len(collect.rows)} refresh tokens in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)
    finally:
        await services.close()
    return {"refresh": _basic(refresh.client.id, refresh.secret),
            "stateless": _basic(stateless.client.id, stateless.secret)}


def _lua(path: Path, tokens: Path, basic: str) -> Path:
    path.write_text(LUA.format(path=f'"{tokens}"', basic=f'"{basic}"'))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds a wrk run (≤ 30)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--pool", type=int, default=30_000,
                        help="refresh tokens a wrk run (more than it can send)")
    parser.add_argument("--max-wait", type=float, default=120.0,
                        help="seconds to wait for a quiet machine before each run (then go on)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON (run_all.py)")
    args = parser.parse_args()
    oauth_http.MAX_WAIT = args.max_wait
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    duration = min(args.duration, 30)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="kp-refresh-bench-"))
    env = {**os.environ, "KEYPLANE_DATA_DIR": str(tmp / "data"), "KEYPLANE_ROOT_KEY": ROOT_KEY,
           "KEYPLANE_SECRET_KEY": SECRET, "KEYPLANE_LOG_LEVEL": "warning",
           "KEYPLANE_ACCESS_TOKEN_TTL_SECONDS": "86400"}
    for name in ("KEYPLANE_DATABASE_URL", "KEYPLANE_ISSUER", "KEYPLANE_REDIS_URL"):
        env.pop(name, None)
    kp_port, bare_port = _free_port(), _free_port()
    env["KEYPLANE_PORT"] = str(kp_port)
    # A file of unused tokens for the warm-up and for each round's refresh run.
    token_files = [tmp / f"tokens-{n}.txt" for n in range(args.rounds + 1)]
    creds = asyncio.run(_prepare(env, token_files, args.pool))
    bare_env = {**env, "KEYPLANE_DATA_DIR": str(tmp / "bare-data")}
    kp_cmd = [str(Path(PYTHON).parent / "keyplane"), "serve", "--host", "127.0.0.1",
              "--port", str(kp_port), "--workers", "1"]
    bare_cmd = bare_command("oauth_http:create_bare_app", bare_port)
    procs = [_start(kp_cmd, env, tmp / "keyplane.log"), _start(bare_cmd, bare_env, tmp / "bare.log")]
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "refresh": [], "token": []}
    try:
        kp = f"http://127.0.0.1:{kp_port}"
        bare = f"http://127.0.0.1:{bare_port}"
        _wait_ready(kp + "/healthz", procs[0])
        _wait_ready(bare + "/healthz", procs[1])
        # One refresh by hand: the pool works and rotation answers a new refresh token.
        first = token_files[0].read_text().split("\n", 1)[0]
        status, answer = _form_call(kp + "/oauth/token", f"grant_type=refresh_token&refresh_token={first}",
                                    creds["refresh"])
        assert status == 200 and answer["refresh_token"] != first, (status, answer)
        fixed = tmp / "stateless.lua"
        fixed.write_text(FIXED.format(basic=f'"{creds["stateless"]}"'))
        print(f"server: keyplane serve (1 worker, SQLite); wrk -t1 -c{args.connections} "
              f"-d{duration}s; {args.rounds} rounds", file=sys.stderr)
        _wait_for_quiet()
        warm = _lua(tmp / "warm.lua", token_files[0], creds["refresh"])
        for url, script in ((kp + "/oauth/token", warm), (bare + "/v1/bench/bare", warm),
                            (kp + "/oauth/token", fixed)):
            _wrk(url, script, duration=2, connections=args.connections, threads=1)
        for r in range(args.rounds):
            script = _lua(tmp / f"round-{r}.lua", token_files[r + 1], creds["refresh"])
            targets = {"bare": (bare + "/v1/bench/bare", script),
                       "refresh": (kp + "/oauth/token", script),
                       "token": (kp + "/oauth/token", fixed)}
            for name, (url, lua) in targets.items():
                _wait_for_quiet()
                res = _wrk(url, lua, duration=duration, connections=args.connections, threads=1)
                runs[name].append(res)
                print(f"  round {r + 1} {name:<8} {res['rps']:8.0f} req/s  p50 {res['p50']:>8}  "
                      f"p99 {res['p99']:>8}  requests {res['requests']}  non-2xx {res['non_2xx']}",
                      file=sys.stderr)
    finally:
        for p in procs:
            _stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    med = {name: statistics.median(r["rps"] for r in rs) for name, rs in runs.items()}
    print()
    print(f"{'endpoint':<10}{'req/s (median)':>15}  {'×bare':>6}  {'×bare per round':<20}"
          f"{'p50 ms':>8}{'p99 ms':>8}{'non-2xx':>9}")
    for name, rs in runs.items():
        per_round = ", ".join(f"{r['rps'] / b['rps']:.2f}" for r, b in zip(rs, runs["bare"], strict=True))
        print(f"{name:<10}{med[name]:>15,.0f}  {med[name] / med['bare']:6.2f}  {per_round:<20}"
              f"{statistics.median(_ms(r['p50']) for r in rs):8.2f}"
              f"{statistics.median(_ms(r['p99']) for r in rs):8.1f}"
              f"{sum(r['non_2xx'] for r in rs):9d}")
    if args.json:
        per_round = {name: [r["rps"] / b["rps"] for r, b in zip(rs, runs["bare"], strict=True)]
                     for name, rs in runs.items()}
        Path(args.json).write_text(json.dumps({"runs": runs, "median": med, "per_round": per_round},
                                              indent=2))
    if any(r["non_2xx"] for r in runs["refresh"]):
        print("WARNING: some refreshes were not 200: the pool ran out (raise --pool) or a "
              "token was refused", file=sys.stderr)


if __name__ == "__main__":
    main()
