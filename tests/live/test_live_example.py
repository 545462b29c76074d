"""The example protected API runs end to end with one command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from live.serving import isolated_env

pytestmark = pytest.mark.live

RUN = Path(__file__).resolve().parents[2] / "examples" / "documents_api" / "run.py"


def test_the_documents_example_accepts_a_key_and_a_token_and_refuses_the_rest(tmp_path):
    done = subprocess.run([sys.executable, str(RUN)], capture_output=True, text=True, timeout=120,
                          env=isolated_env(tmp_path), cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "all answers as expected"
    assert sum(line.startswith("ok ") for line in lines) == 6
    assert any("201 machine writes a document" in line for line in lines)
    assert any('403 user may not write' in line and 'error="insufficient_scope"' in line for line in lines)
