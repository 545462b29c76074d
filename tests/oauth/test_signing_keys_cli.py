"""`keyplane signing-keys list|rotate`, as typed, against a real `keyplane serve`."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live.serving import Served, start
from typer.testing import CliRunner, Result

from keyplane.cli.main import app

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    root_key = "sk-cli-root-" + secrets.token_urlsafe(32)
    server = start(tmp_path_factory.mktemp("signing-keys-cli"), KEYPLANE_ROOT_KEY=root_key)
    yield server, root_key
    server.stop()


def keyplane(served: tuple[Served, str], *args: str, root_key: str | None = None) -> Result:
    server, default_root_key = served
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("KEYPLANE_")}
    env.update({"KEYPLANE_URL": server.url, "KEYPLANE_ROOT_KEY": root_key or default_root_key,
                "KEYPLANE_CONFIG": str(Path(server.env["KEYPLANE_CONFIG"]))})
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_list_shows_the_first_key_and_rotate_publishes_the_next_one_ahead(
        served: tuple[Served, str]) -> None:
    listed = json.loads(keyplane(served, "signing-keys", "list", "--json").stdout)
    [first] = listed["items"]
    assert first["status"] == "active" and first["alg"] == "ES256"

    rotated = keyplane(served, "signing-keys", "rotate")
    assert rotated.exit_code == 0, rotated.stderr
    assert rotated.stdout.startswith("Created signing key sig_")
    assert "status        pending" in rotated.stdout and "it signs from 20" in rotated.stdout

    table = keyplane(served, "signing-keys", "list")
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["KID", "ALG", "STATUS", "CREATED", "ACTIVATES", "RETIRES", "WITHDRAWN"]
    assert [line.split()[2] for line in lines[1:]] == ["pending", "active"]

    again = keyplane(served, "signing-keys", "rotate")
    assert again.exit_code == 1 and again.stderr.startswith("error: 409 Conflict: ")

    now = json.loads(keyplane(served, "signing-keys", "rotate", "--immediate", "--json").stdout)
    assert now["status"] == "active"
    jwks = httpx.get(served[0].url + "/.well-known/jwks.json").json()
    assert [k["kid"] for k in jwks["keys"]] == [now["kid"]]
    statuses = [k["status"] for k in json.loads(
        keyplane(served, "signing-keys", "list", "--json").stdout)["items"]]
    assert statuses == ["active", "withdrawn", "withdrawn"]


def test_rotate_without_the_permission_is_refused(served: tuple[Served, str]) -> None:
    made = httpx.post(served[0].url + "/v1/root-keys",
                      json={"name": "reader", "permissions": ["signing_keys.read"]},
                      headers={"Authorization": f"Bearer {served[1]}"}).json()
    assert keyplane(served, "signing-keys", "list", root_key=made["key"]).exit_code == 0
    refused = keyplane(served, "signing-keys", "rotate", root_key=made["key"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: 403 Forbidden: ") and "signing_keys.write" in refused.stderr
