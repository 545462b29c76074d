"""Fill a keyplane data directory with many API keys, for bench/defaults.py --rss.

Opens the store named by the environment (KEYPLANE_DATA_DIR, KEYPLANE_ROOT_KEY, as
`keyplane serve` will), migrates it, creates an API and one key through `KeyService` (so
the row is exactly what keyplane writes), then bulk-inserts `--keys - 1` copies of that
row, each with the hash of a freshly generated key under the store's own `KeyHasher`, and
writes `--sample` of the plaintext keys, one a line, to `--out`: keys that verify VALID.

Run: KEYPLANE_DATA_DIR=... KEYPLANE_ROOT_KEY=... .venv/bin/python bench/fill_keys.py \\
       --keys 1000000 --sample 100000 --out keys.txt
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from verify_inprocess import CONFIG, PREFIX, _fill_sqlite, _generate  # noqa: E402

from keyplane.audit.events import SYSTEM  # noqa: E402
from keyplane.config import load_settings  # noqa: E402
from keyplane.services import greet, open_services  # noqa: E402


async def main(args: argparse.Namespace) -> None:
    services = await open_services(load_settings())
    try:
        await greet(services)
        api = await services.apis.create_api(SYSTEM, "bench", PREFIX)
        issued = await services.keys.issue_key(SYSTEM, api.id, CONFIG)
        started = time.perf_counter()
        plain, hashes = _generate(args.keys - 1, services.keys._hasher)  # type: ignore[attr-defined]
        await _fill_sqlite(services, issued.stored.id, hashes, plain)
        print(f"  {args.keys:,} keys stored in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        sample = random.Random(42).sample(plain, min(args.sample, len(plain)))
        Path(args.out).write_text("\n".join(sample) + "\n")
    finally:
        await services.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=100_000)
    parser.add_argument("--out", required=True)
    asyncio.run(main(parser.parse_args()))
