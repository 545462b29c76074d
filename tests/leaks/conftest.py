"""Leak scanning fixtures: the CLI fixtures of tests/cli (a live `keyplane serve`, and
`keyplane` run as typed)."""

from __future__ import annotations

from cli.conftest import Ran, keyplane, keyplane_alone, keyplane_process, server, user_env

__all__ = ["Ran", "keyplane", "keyplane_alone", "keyplane_process", "server", "user_env"]
