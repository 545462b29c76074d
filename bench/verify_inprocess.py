"""µs per `KeyService.verify` call, in process, against a raw baseline from the same run.

For each store size (default 10k and 1M keys) it builds a fresh store in a temp directory:
migrate through `open_services`, one key issued through `KeyService.issue_key` (so the row
layout is exactly what keyplane writes), then `size - 1` more rows bulk-inserted with
sqlite3 `executemany` (PostgreSQL: asyncpg COPY), each the HMAC of a real generated key
under the same `KeyHasher`, so verification hits.

Measured per round (rounds interleaved, medians reported), on a running uvloop loop:

- raw        HMAC-SHA-256 + sqlite3 `SELECT <key columns> FROM keys WHERE key_hash = ?`
             on a held connection (PostgreSQL: a held asyncpg connection, prepared): the
             floor a verification cannot beat.
- cold       `KeyService.verify` of keys not looked up since the last write to the store
             (a write precedes every round), each key once: parse, hash, SELECT, decode.
- hot        `KeyService.verify` of one key again and again, no write in between.
- root_auth  `RootKeyService.authenticate` of the root key (what every HTTP verify call
             also pays), no write in between.

Run: .venv/bin/python bench/verify_inprocess.py [--sizes 10000 1000000] [--pg URL]
Nothing here runs in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import platform
import random
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

import keyplane
from keyplane.audit.events import SYSTEM
from keyplane.config import load_settings
from keyplane.ids import new_id
from keyplane.credentials.format import display_start, generate_key
from keyplane.keys.model import KeyConfig
from keyplane.services import Services, greet, open_services

ROOT_KEY = "bench-root-" + "r" * 40
SECRET = "bench-secret-" + "s" * 40
PREFIX = "sk_bench"
CONFIG = KeyConfig(name="bench key", owner_id="team_42",
                   permissions=("documents.read", "documents.write"),
                   metadata={"plan": "pro", "region": "eu"})
_COLUMNS = ("id, api_id, start, name, owner_id, permissions, metadata, ratelimits, "
            "credits_remaining, credits_refill, ip_allowlist, enabled, expires_at, "
            "created_at, updated_at, last_used_at, revoked_at")


def _pepper(services: Services) -> bytes:
    return services.keys._hasher._pepper  # type: ignore[attr-defined]  # the raw baseline's key


def _generate(n: int, hasher: Any) -> tuple[list[str], list[bytes]]:
    plain = [generate_key(PREFIX) for _ in range(n)]
    return plain, [hasher.hash(k) for k in plain]


async def _fill_sqlite(services: Services, template_id: str, hashes: list[bytes],
                       plain: list[str]) -> None:
    path = services.db.sqlite_path
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    cols = [r[1] for r in conn.execute("PRAGMA table_info(keys)")]
    row = dict(zip(cols, conn.execute("SELECT * FROM keys WHERE id = ?", (template_id,)).fetchone()))
    now = datetime.now(UTC)
    placeholders = ", ".join("?" for _ in cols)
    sql = f"INSERT INTO keys ({', '.join(cols)}) VALUES ({placeholders})"

    def rows() -> Any:
        for h, k in zip(hashes, plain):
            row["id"], row["key_hash"], row["start"] = new_id("key", now), h, display_start(k)
            yield tuple(row[c] for c in cols)

    conn.execute("BEGIN")
    conn.executemany(sql, rows())
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


async def _fill_pg(url: str, template_id: str, hashes: list[bytes], plain: list[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1))
    try:
        template = await conn.fetchrow("SELECT * FROM keys WHERE id = $1", template_id)
        cols = list(template.keys())
        now = datetime.now(UTC)
        base = dict(template)

        def rows() -> Any:
            for h, k in zip(hashes, plain):
                base["id"], base["key_hash"], base["start"] = new_id("key", now), h, display_start(k)
                yield tuple(base[c] for c in cols)

        await conn.copy_records_to_table("keys", records=list(rows()), columns=cols)
        await conn.execute("ANALYZE keys")
    finally:
        await conn.close()


async def _touch(services: Services) -> None:
    """A committed write that changes nothing a verification reads: every cache keyed on
    the store's state is now stale, so the next lookups go to the store."""
    from keyplane.store.meta import SqlMeta
    await SqlMeta(services.db).set_default("bench_touch", "x")
    async with services.db.transaction() as conn:
        import sqlalchemy as sa
        await conn.execute(sa.text("UPDATE keyplane_meta SET value = :v WHERE name = 'bench_touch'"),
                           {"v": secrets.token_hex(4)})


def _per_call_us(t0: int, n: int) -> float:
    return (time.perf_counter_ns() - t0) / n / 1000


class Bench:
    """One store of `size` keys and the calls measured on it."""

    def __init__(self, size: int, args: argparse.Namespace, pg_url: str | None) -> None:
        self.size, self.args, self.pg_url = size, args, pg_url
        self.backend = "sqlite" if pg_url is None else "postgresql"
        self.tmp = Path(tempfile.mkdtemp(prefix="kp-bench-"))
        self.pg_db: str | None = None
        self.results: dict[str, list[float]] = {"raw": [], "cold": [], "hot": [], "root_auth": []}

    async def open(self) -> None:
        args, pg_url = self.args, self.pg_url
        database_url = None
        if pg_url is not None:
            self.pg_db = f"keyplane_bench_{os.getpid()}_{self.size}"
            await _pg_admin(pg_url, f'CREATE DATABASE "{self.pg_db}"')
            database_url = pg_url.rsplit("/", 1)[0] + "/" + self.pg_db
        settings = load_settings({}, data_dir=self.tmp, root_key=ROOT_KEY, secret_key=SECRET,
                                 database_url=database_url)
        self.services = services = await open_services(settings)
        await greet(services)
        api = await services.apis.create_api(SYSTEM, "bench", PREFIX)
        self.issued = issued = await services.keys.issue_key(SYSTEM, api.id, CONFIG)
        hasher = services.keys._hasher  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        plain, hashes = _generate(self.size - 1, hasher)
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        if pg_url is None:
            await _fill_sqlite(services, issued.stored.id, hashes, plain)
        else:
            assert database_url is not None
            await _fill_pg(database_url, issued.stored.id, hashes, plain)
        fill_s = time.perf_counter() - t0
        print(f"  {self.backend} {self.size:>9,} keys: generated in {gen_s:.1f} s, inserted in "
              f"{fill_s:.1f} s", file=sys.stderr)

        rng = random.Random(42)
        self.per_round = min(args.cold, len(plain))
        # Fresh keys every round when the store has enough, else the same ones again.
        self.sample = rng.sample(plain, min(len(plain), self.per_round * args.rounds))
        pepper = _pepper(services)
        if pg_url is None:
            raw_conn = sqlite3.connect(services.db.sqlite_path, isolation_level=None)
            raw_conn.execute("PRAGMA query_only=ON")
            for pragma in args.reader_pragma:  # the same on both connections
                raw_conn.execute(f"PRAGMA {pragma}")
                services.db.sqlite_reader().execute(f"PRAGMA {pragma}")
            raw_sql = f"SELECT {_COLUMNS} FROM keys WHERE key_hash = ?"
            self._raw_close = raw_conn.close

            async def raw_lookup(key: str) -> Any:
                h = b"\x01" + hmac.new(pepper, key.encode(), hashlib.sha256).digest()
                return raw_conn.execute(raw_sql, (h,)).fetchall()
        else:
            import asyncpg
            assert database_url is not None
            pg = await asyncpg.connect(database_url.replace("postgresql://", "postgres://", 1))
            stmt = await pg.prepare(f"SELECT {_COLUMNS} FROM keys WHERE key_hash = $1")

            async def _close() -> None:
                await pg.close()
            self._raw_close = _close  # type: ignore[assignment]

            async def raw_lookup(key: str) -> Any:
                h = b"\x01" + hmac.new(pepper, key.encode(), hashlib.sha256).digest()
                return await stmt.fetch(h)

        self.raw_lookup = raw_lookup
        assert (await services.keys.verify(issued.key)).valid
        assert await raw_lookup(issued.key)

    async def round(self, r: int) -> None:
        verify = self.services.keys.verify
        authenticate = self.services.root_keys.authenticate
        raw_lookup, results, hot_n = self.raw_lookup, self.results, self.args.hot
        start = (r * self.per_round) % len(self.sample)
        keys = self.sample[start:start + self.per_round]
        t = time.perf_counter_ns()
        for k in keys:
            await raw_lookup(k)
        results["raw"].append(_per_call_us(t, len(keys)))
        await _touch(self.services)
        t = time.perf_counter_ns()
        for k in keys:
            v = await verify(k)
        results["cold"].append(_per_call_us(t, len(keys)))
        assert v.valid, v
        key = self.issued.key
        t = time.perf_counter_ns()
        for _ in range(hot_n):
            await verify(key)
        results["hot"].append(_per_call_us(t, hot_n))
        t = time.perf_counter_ns()
        for _ in range(hot_n):
            await authenticate(ROOT_KEY, ip="127.0.0.1")
        results["root_auth"].append(_per_call_us(t, hot_n))

    async def close(self) -> None:
        try:
            if hasattr(self, "_raw_close"):
                closed = self._raw_close()
                if asyncio.iscoroutine(closed):
                    await closed
            if hasattr(self, "services"):
                await self.services.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if self.pg_db is not None and self.pg_url is not None:
                await _pg_admin(self.pg_url, f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)')

    def report(self) -> dict[str, Any]:
        return {"backend": self.backend, "size": self.size,
                "us": {k: statistics.median(v) for k, v in self.results.items()},
                "rounds": self.results}


async def _pg_admin(url: str, statement: str) -> None:
    import asyncpg
    conn = await asyncpg.connect(url.replace("postgresql://", "postgres://", 1), timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    print(f"keyplane from {Path(keyplane.__file__).parent}, Python {platform.python_version()}",
          file=sys.stderr)
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    if args.pg:
        backends.append(("postgresql", args.pg))
    if args.only_pg:
        backends = [("postgresql", args.pg)]
    benches = [Bench(size, args, url) for _, url in backends for size in args.sizes]
    try:
        for b in benches:
            await b.open()
        # Rounds interleave the stores, so a change in the machine's load hits every size alike.
        for r in range(args.rounds):
            for b in benches:
                await b.round(r)
    finally:
        for b in benches:
            await b.close()
    report = [b.report() for b in benches]
    print()
    print(f"{'backend':<11}{'keys':>10}  {'raw µs':>7} {'cold µs':>8} {'×raw':>5} "
          f"{'hot µs':>7} {'×raw':>5} {'root_auth µs':>12}")
    for res in report:
        us = res["us"]
        print(f"{res['backend']:<11}{res['size']:>10,}  {us['raw']:7.1f} {us['cold']:8.1f} "
              f"{us['cold'] / us['raw']:5.2f} {us['hot']:7.1f} {us['hot'] / us['raw']:5.2f} "
              f"{us['root_auth']:12.1f}")
    for name in {r["backend"] for r in report}:
        rows = [r for r in report if r["backend"] == name]
        if len(rows) >= 2:
            small, big = rows[0], rows[-1]
            print(f"{name}: {big['size']:,} vs {small['size']:,} keys: cold ×"
                  f"{big['us']['cold'] / small['us']['cold']:.2f}, hot ×"
                  f"{big['us']['hot'] / small['us']['hot']:.2f}, raw ×"
                  f"{big['us']['raw'] / small['us']['raw']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cold", type=int, default=10_000, help="distinct keys a round")
    parser.add_argument("--hot", type=int, default=20_000, help="calls a round on one key")
    parser.add_argument("--pg", metavar="URL", help="also PostgreSQL, e.g. "
                        "postgresql://postgres@127.0.0.1:5432/test (a database is created and dropped)")
    parser.add_argument("--only-pg", action="store_true")
    parser.add_argument("--reader-pragma", action="append", default=[], metavar="PRAGMA",
                        help="SQLite: run PRAGMA on keyplane's reader and the raw connection, "
                        "e.g. mmap_size=268435456 (repeatable)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    uvloop.run(main(parser.parse_args()))
