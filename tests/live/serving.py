"""A real `keyplane serve` process on 127.0.0.1, for the live and CLI tests.

The process runs the console script as a person would, on a free port, with its own data
directory and no configuration but what the test gives it (KEYPLANE_* variables of the
surrounding environment are dropped, KEYPLANE_CONFIG points at no file). Its output goes to
a log file the tests read; a pipe nobody drains could stall the server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

READY_SECONDS = 30.0
STOP_SECONDS = 10.0


def keyplane_command() -> list[str]:
    """The `keyplane` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("keyplane")
    return [str(script)] if script.exists() else [sys.executable, "-m", "keyplane.cli"]


def isolated_env(home: Path, **settings: str | None) -> dict[str, str]:
    """os.environ without KEYPLANE_* variables, plus `settings` (None values left out)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYPLANE_")}
    env["KEYPLANE_CONFIG"] = str(home / "no-keyplane.toml")
    env.update({k: v for k, v in settings.items() if v is not None})
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    """A running `keyplane serve`; `stop()` ends it with SIGTERM and returns its status."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    env: dict[str, str]
    exit_code: int | None = field(default=None)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = STOP_SECONDS) -> int:
        """SIGTERM, then wait up to `timeout`; kills and raises if it does not stop."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"keyplane serve did not stop within {timeout} s:\n{self.log()}")
        return self.exit_code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def start(home: Path, *, args: tuple[str, ...] = (), **settings: str | None) -> Served:
    """Start `keyplane serve` with KEYPLANE_DATA_DIR under `home` and `settings` (e.g.
    KEYPLANE_ROOT_KEY=...), and wait until /readyz answers 200."""
    home.mkdir(parents=True, exist_ok=True)
    settings.setdefault("KEYPLANE_DATA_DIR", str(home / "data"))
    env = isolated_env(home, **settings)
    for attempt in range(3):  # a free port can be taken by someone else before we bind it
        port = free_port()
        log_path = home / f"serve-{port}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [*keyplane_command(), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                cwd=home)
        served = Served(process, f"http://127.0.0.1:{port}", log_path, env)
        if _wait_ready(served, workers=_workers(args)):
            return served
        served.kill()
        if "address already in use" not in served.log().lower() or attempt == 2:
            raise AssertionError(f"keyplane serve did not become ready:\n{served.log()}")
    raise AssertionError("unreachable")


def _workers(args: tuple[str, ...]) -> int:
    return int(args[args.index("--workers") + 1]) if "--workers" in args else 1


def _wait_ready(served: Served, *, workers: int) -> bool:
    """/readyz answers, and every worker has started (the first ready one answers alone)."""
    deadline = time.monotonic() + READY_SECONDS
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if served.process.poll() is not None:
                return False
            try:
                ready = client.get(f"{served.url}/readyz").status_code == 200
            except httpx.TransportError:
                ready = False
            if ready and served.log().count("keyplane ready") >= workers:
                return True
            time.sleep(0.05)
    return False
