"""The scale tests start their own cluster (tests/scale/cluster.py): PostgreSQL and Redis
of their own on free ports, three replicas of `keyplane serve --workers 2`. They need the
PostgreSQL and Redis programs installed, never the machine's running servers: without them
the tests are skipped locally and fail in CI (CI=true), as the store fixtures do."""

from __future__ import annotations

import os

import pytest
from scale.cluster import missing_programs

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session", autouse=True)
def _programs_installed() -> None:
    missing = missing_programs()
    if missing and IN_CI:
        pytest.fail(f"the scale tests need {', '.join(missing)} in CI")
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed")
