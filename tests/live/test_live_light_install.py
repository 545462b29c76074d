"""`pip install keyplane` is the verifier SDK alone: a fresh virtual environment (no system
site-packages) gets this source tree without extras, holds none of the server's
dependencies, verifies an API key and a JWT against a live `keyplane serve`, and its
`keyplane` command says how to install the server.

It builds and installs a package (about 40 s; pip takes what it can from its cache and the
machine's wheels, and asks the package index for the rest).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from live.sdk_setup import AUDIENCE, setup
from live.serving import start

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
INSTALL_SECONDS = 300
SERVER_MODULES = ["sqlalchemy", "alembic", "asyncpg", "aiosqlite", "uvicorn", "granian", "argon2",
                  "redis", "prometheus_client", "fastapi", "starlette", "pydantic", "typer"]

VERIFY = """
import json, sys
from keyplane import AuthError, Verifier

issuer, api_id, root_key, key, token, audience = sys.argv[1:7]
with Verifier(issuer=issuer, audience=audience, api_id=api_id, root_key=root_key) as verifier:
    assert verifier.wait_ready(10)
    by_key = verifier.verify_sync("Bearer " + key)
    by_token = verifier.verify_sync("Bearer " + token, scopes=["documents.read"])
    try:
        verifier.verify_sync("Bearer " + token[:-4] + "AAAA")
        forged = None
    except AuthError as exc:
        forged = exc.error
server = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[7:]))
print(json.dumps({"key_id": by_key.key_id, "client_id": by_token.client_id,
                  "forged": forged, "server_modules_loaded": server}))
"""


def _copy_tree(to: Path) -> Path:
    """What a source distribution holds (pyproject, README, src/), without build leftovers:
    pip builds in the tree it is given, and this worktree stays untouched."""
    tree = to / "keyplane-src"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    return tree


def _light_venv(at: Path) -> Path:
    venv = at / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", str(_copy_tree(at))],
                               capture_output=True, text=True, timeout=INSTALL_SECONDS)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return venv


def test_the_sdk_installs_alone_and_verifies_keys_and_tokens(tmp_path: Path) -> None:
    root_key = "live-root-" + secrets.token_urlsafe(32)
    served = start(tmp_path / "service", KEYPLANE_ROOT_KEY=root_key)
    try:
        kp = setup(served.url, root_key)
        key = kp.create_key()
        client = kp.create_client()
        token = kp.token(client)
        kp.admin.close()

        venv = _light_venv(tmp_path)
        python = str(venv / "bin" / "python")
        found = subprocess.run(
            [python, "-c", "import importlib.util, json, sys; print(json.dumps("
             "[m for m in sys.argv[1:] if importlib.util.find_spec(m) is not None]))", *SERVER_MODULES],
            capture_output=True, text=True, timeout=60)
        assert json.loads(found.stdout) == [], found.stderr

        verified = subprocess.run(
            [python, "-c", VERIFY, served.url, kp.api_id, root_key, key["key"], token, AUDIENCE,
             *SERVER_MODULES], capture_output=True, text=True, timeout=60)
        assert verified.returncode == 0, verified.stderr
        assert json.loads(verified.stdout) == {"key_id": key["id"], "client_id": client["client_id"],
                                               "forged": "invalid_token", "server_modules_loaded": []}

        command = subprocess.run([str(venv / "bin" / "keyplane"), "serve"], capture_output=True,
                                 text=True, timeout=60)
        assert command.returncode == 1
        assert "pip install 'keyplane[server]'" in command.stderr
        assert "Traceback" not in command.stderr

        # The `scan` extra (what the pre-commit hook installs) adds the CLI's library only:
        # `keyplane scan` finds the key, and nothing of the server but typer (and its pydantic)
        # is importable.
        extra = subprocess.run([python, "-m", "pip", "install", "-q", "typer>=0.12"],
                               capture_output=True, text=True, timeout=INSTALL_SECONDS)
        assert extra.returncode == 0, extra.stdout + extra.stderr
        (tmp_path / "leaky").mkdir()
        (tmp_path / "leaky" / "app.env").write_text(f"API_KEY={key['key']}\n")
        scanned = subprocess.run([str(venv / "bin" / "keyplane"), "scan", "--json",
                                  str(tmp_path / "leaky")], capture_output=True, text=True, timeout=60)
        assert scanned.returncode == 1, scanned.stderr
        assert [f["kind"] for f in json.loads(scanned.stdout)["items"]] == ["api_key"]
        assert key["key"] not in scanned.stdout + scanned.stderr
        found = subprocess.run(
            [python, "-c", "import importlib.util, json, sys; print(json.dumps("
             "[m for m in sys.argv[1:] if importlib.util.find_spec(m) is not None]))",
             *(m for m in SERVER_MODULES if m not in ("typer", "pydantic"))],  # typer needs pydantic
            capture_output=True, text=True, timeout=60)
        assert json.loads(found.stdout) == [], found.stderr
    finally:
        served.stop()
