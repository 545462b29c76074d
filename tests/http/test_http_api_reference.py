"""docs/http-api.md's endpoint reference is the app's OpenAPI document, rendered: when an
endpoint, field or status changes, the page must be generated again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "http-api.md"
SCRIPT = ROOT / "scripts" / "http_api_reference.py"


def check(doc: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--check", "--doc", str(doc)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_the_generated_endpoint_reference_matches_the_openapi_document():
    done = check(DOC)
    assert done.returncode == 0, done.stderr


def test_a_stale_reference_is_found(tmp_path):
    text = DOC.read_text(encoding="utf-8")
    stale = tmp_path / "http-api.md"
    stale.write_text(text.replace("#### `POST /v1/keys/verify`", "#### `POST /v1/keys/check`", 1),
                     encoding="utf-8")
    done = check(stale)
    assert done.returncode == 1 and "is stale" in done.stderr


async def test_every_path_the_app_serves_under_v1_is_in_the_reference(http):
    paths = (await http.get("/openapi.json")).json()["paths"]
    text = DOC.read_text(encoding="utf-8")
    assert [p for p in paths if f" {p}`" not in text] == []
