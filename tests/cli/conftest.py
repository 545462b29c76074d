"""CLI fixtures: a live `keyplane serve`, and `keyplane` run as typed against it.

`keyplane(...)` runs the real Typer app in this process (CliRunner: fast, stdout and stderr
apart) with the environment a user of that server would have: KEYPLANE_URL,
KEYPLANE_ROOT_KEY, and the server's KEYPLANE_DATA_DIR for the commands that work on the
store directly. `keyplane_process(...)` runs the console script itself, for what only a
real process shows (exit status and stderr of `serve`, no traceback).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from live.serving import Served, isolated_env, keyplane_command, start
from typer.testing import CliRunner

from keyplane.cli.main import app


@dataclass(frozen=True)
class Ran:
    exit_code: int
    stdout: str
    stderr: str


Keyplane = Callable[..., Ran]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    root_key = "cli-root-" + secrets.token_urlsafe(32)
    served = start(tmp_path_factory.mktemp("cli-server"), KEYPLANE_ROOT_KEY=root_key)
    yield served, root_key
    served.stop()


@pytest.fixture(scope="session")
def user_env(server: tuple[Served, str]) -> dict[str, str]:
    """What a user of the server has in the environment."""
    served, root_key = server
    return {"KEYPLANE_URL": served.url, "KEYPLANE_ROOT_KEY": root_key,
            "KEYPLANE_DATA_DIR": served.env["KEYPLANE_DATA_DIR"],
            "KEYPLANE_CONFIG": served.env["KEYPLANE_CONFIG"]}


def _run_in_process(args: tuple[str, ...], env: Mapping[str, str | None], stdin: str | None) -> Ran:
    # Unset whatever KEYPLANE_* the surrounding environment has; then set the test's own.
    full_env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("KEYPLANE_")}
    full_env.update(env)
    result = CliRunner().invoke(app, list(args), env=full_env, input=stdin,
                                catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def keyplane(user_env: dict[str, str]) -> Keyplane:
    """`keyplane ARGS...` as the server's user types it; `env=` adds or replaces variables
    (None unsets one), `stdin=` feeds standard input."""

    def run(*args: str, env: Mapping[str, str | None] | None = None,
            stdin: str | None = None) -> Ran:
        return _run_in_process(args, {**user_env, **(env or {})}, stdin)

    return run


@pytest.fixture
def keyplane_alone(tmp_path: Path) -> Keyplane:
    """`keyplane ARGS...` with no server configured: only what the test gives."""

    def run(*args: str, env: Mapping[str, str | None] | None = None,
            stdin: str | None = None) -> Ran:
        base = {"KEYPLANE_CONFIG": str(tmp_path / "no-keyplane.toml"),
                "KEYPLANE_DATA_DIR": str(tmp_path / "data")}
        return _run_in_process(args, {**base, **(env or {})}, stdin)

    return run


@pytest.fixture
def keyplane_process(tmp_path: Path) -> Keyplane:
    """The console script in a process of its own; stops it after 20 s at most."""

    def run(*args: str, env: Mapping[str, str | None] | None = None,
            stdin: str | None = None) -> Ran:
        settings = {"KEYPLANE_DATA_DIR": str(tmp_path / "data"), **(env or {})}
        completed = subprocess.run(
            [*keyplane_command(), *args], input=stdin or "", capture_output=True, text=True,
            env=isolated_env(tmp_path, **settings), cwd=tmp_path, timeout=20)
        return Ran(completed.returncode, completed.stdout, completed.stderr)

    return run
