"""How a command fails: a message for people on stderr and an exit status for scripts.

Exit statuses: 1 when the operation failed (an HTTP error, the service unreachable, a key
that does not verify), 2 when keyplane is configured wrong or called wrong (the same
status click gives a usage error). No traceback for either: a traceback is for bugs.
"""

from __future__ import annotations

from collections.abc import Sequence

import typer

FAILED = 1
BAD_CONFIGURATION = 2


class CliError(Exception):
    """A failure to report on stderr, then exit with `exit_code`."""

    exit_code: int = FAILED

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details)

    def show(self) -> None:
        typer.echo(f"error: {self.message}", err=True)
        for line in self.details:
            typer.echo(f"  {line}", err=True)


class BadConfiguration(CliError):
    """The settings (environment, keyplane.toml, options) cannot work."""

    exit_code = BAD_CONFIGURATION
