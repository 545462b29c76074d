"""A git repository built commit by commit, for the scan tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


class Git:
    """A repository in `path`, with commits by a fixed author at fixed dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
        self._ticks = 0
        self("init", "-q", "-b", "main")

    def __call__(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.path, env=self.env, check=True,
                              capture_output=True, text=True, timeout=60)
        return done.stdout.strip()

    def write(self, name: str, text: str) -> None:
        file = self.path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)

    def commit(self, message: str) -> str:
        """Commit everything in the work tree; returns the commit's id."""
        self._ticks += 1
        date = f"2026-01-01T00:{self._ticks:02d}:00Z"
        self("add", "-A")
        subprocess.run(["git", "commit", "-q", "-m", message], cwd=self.path, check=True,
                       env={**self.env, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
                       timeout=60)
        return self("rev-parse", "HEAD")
