"""What PostgreSQL's writes cost keyplane: key creations a second and usage rows a second.

Starts a PostgreSQL of its own (tests/scale/cluster.py: initdb in a temporary directory, a
free port of 127.0.0.1, default settings — fsync and synchronous_commit on), runs the app in
this process (no HTTP sockets: the ASGI transport) and measures:

- `POST /v1/keys` from --concurrency tasks: creations a second, and the share of the time
  spent waiting on PostgreSQL (the transaction's commit is a WAL flush);
- the usage flush (`SqlUsageRepository.write`, what every worker does each second) in
  batches of 1,000 rows: rows a second written, raw events + hourly upserts + last_used_at.

These are the figures docs/deploy.md scales from: key verification reads are served from
each process's cache, so the database's writes — usage rows above all — are what grows
with traffic. Everything it started is ended and removed, also on failure.

Run: .venv/bin/python bench/pg_writes.py [--creates 1000] [--rows 50000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from scale.cluster import Postgres  # noqa: E402

from keyplane.app import create_app  # noqa: E402
from keyplane.config import load_settings  # noqa: E402
from keyplane.store.usage import SqlUsageRepository  # noqa: E402
from keyplane.usage.events import UsageEvent  # noqa: E402

ROOT = "bench-root-" + "r" * 40


async def measure(url: str, data_dir: Path, creates: int, rows: int, concurrency: int) -> None:
    settings = load_settings({}, data_dir=data_dir, database_url=url, root_key=ROOT,
                             secret_key="bench-secret-" + "s" * 32)
    app = create_app(settings)
    async with LifespanManager(app) as manager, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://bench",
            headers={"Authorization": f"Bearer {ROOT}"}) as http:
        api_id = (await http.post("/v1/apis", json={"name": "writes"})).json()["id"]
        made: list[str] = []
        remaining = creates

        async def creator() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                response = await http.post("/v1/keys", json={"api_id": api_id, "owner_id": "o"})
                assert response.status_code == 201, response.text
                made.append(response.json()["id"])

        started = time.perf_counter()
        await asyncio.gather(*(creator() for _ in range(concurrency)))
        took = time.perf_counter() - started
        print(f"key creations: {creates} in {took:.2f} s = {creates / took:,.0f}/s "
              f"({concurrency} at a time, one process)")

        services = app.state.services
        repository = SqlUsageRepository(services.db)
        now = datetime.now(UTC)
        batch = [UsageEvent(time=now, key_id=made[n % len(made)], api_id=api_id, owner_id="o",
                            code="VALID", ip="198.51.100.7", user_agent="bench/1.0")
                 for n in range(1000)]
        written = 0
        started = time.perf_counter()
        while written < rows:
            await repository.write(batch)
            written += len(batch)
        took = time.perf_counter() - started
        print(f"usage flush: {written:,} rows in {took:.2f} s = {written / took:,.0f} rows/s "
              f"(batches of 1,000 over {len(made)} keys, one writer)")
    await raw_commits(url, creates, concurrency)


async def raw_commits(url: str, count: int, concurrency: int) -> None:
    """The database's own ceiling for small transactions: one-row INSERTs, each committed
    (a WAL flush), from `concurrency` connections — the baseline for key creations."""
    import asyncpg

    dsn = url.replace("postgresql://", "postgres://", 1)
    setup = await asyncpg.connect(dsn)
    await setup.execute("CREATE TABLE bench_commits (id bigserial PRIMARY KEY, body text)")
    await setup.close()
    remaining = count

    async def writer() -> None:
        nonlocal remaining
        conn = await asyncpg.connect(dsn)
        try:
            while remaining > 0:
                remaining -= 1
                await conn.execute("INSERT INTO bench_commits (body) VALUES ($1)", "x" * 200)
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(concurrency)))
    took = time.perf_counter() - started
    print(f"baseline, raw one-row committed INSERTs: {count} in {took:.2f} s = {count / took:,.0f}/s "
          f"({concurrency} connections)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if not (1 <= args.creates <= 100_000 and 1_000 <= args.rows <= 1_000_000):
        raise SystemExit("--creates 1..100000, --rows 1000..1000000: runs stay bounded")
    directory = Path(tempfile.mkdtemp(prefix="keyplane-pgwrites-"))
    directory.chmod(0o755)
    server = None
    try:
        server = Postgres(directory / "pg")
        asyncio.run(measure(server.url, directory / "data", args.creates, args.rows, args.concurrency))
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
