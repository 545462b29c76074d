"""`keyplane serve ...` with `gc.freeze()` once the services are up (a benchmark variant).

What it measures: CPython's full (generation 2) collections scan every object the process
holds, ~160k after start-up (FastAPI, pydantic, SQLAlchemy, the app), ~80 ms each on the
team's machine. Requests that suspend (a metered verification awaits its credit commit or
Redis) survive the young collections, get promoted, and make full collections frequent.
`gc.freeze()` after start-up moves what exists then into a permanent generation that
collections skip. This wrapper does that right after `Services.start()` (the lifespan),
then runs the normal CLI: `python bench/serve_gc_freeze.py serve --port ...`.
Used by `metering_http.py --variant NAME=+gc-freeze`; nothing here runs in the test suite.
"""

from __future__ import annotations

import gc
import sys

from keyplane.cli.main import main
from keyplane.services import Services

_start = Services.start


def _start_then_freeze(self: Services) -> None:
    _start(self)
    gc.collect()
    gc.freeze()


Services.start = _start_then_freeze  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.argv[0] = "keyplane"
    main()
