"""The `keyplane` command line: one module a command group.

`serve`, `migrate` and `bootstrap` work on the store directly; `apis`, `keys`,
`root-keys` and `audit` talk to a running service over its `/v1/` API (KEYPLANE_URL,
KEYPLANE_ROOT_KEY). People get tables; scripts pass `--json` and get the response as is.

`main` is the console script: the command line and the service need the `server` extra
(`pip install 'keyplane[server]'`); the plain `pip install keyplane` of an API that only
verifies lacks it, and is told so in one line instead of a traceback.
"""

from __future__ import annotations

import sys


def main() -> None:
    """`keyplane ...`: the commands, or how to install them."""
    try:
        from keyplane.cli.main import main as run
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if not missing or missing == "keyplane":
            raise
        sys.exit(f"keyplane: the command line and the service need the server extra, and "
                 f"{missing!r} is not installed; install it with: pip install 'keyplane[server]' "
                 "(plain `pip install keyplane` is the verifier SDK alone)")
    run()
