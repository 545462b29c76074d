"""`keyplane alerts`: list as a table and JSON, acknowledge, resolve."""

from __future__ import annotations

import json
import time

import httpx
import pytest

pytestmark = pytest.mark.live


def test_alerts_list_ack_and_resolve(keyplane, user_env: dict[str, str]) -> None:
    api = json.loads(keyplane("apis", "create", "alerted", "--json").stdout)
    key = json.loads(keyplane("keys", "create", "--api-id", api["id"], "--json").stdout)
    keyplane("keys", "revoke", key["id"])
    verdict = httpx.post(f"{user_env['KEYPLANE_URL']}/v1/keys/verify", json={"key": key["key"]},
                         headers={"Authorization": f"Bearer {user_env['KEYPLANE_ROOT_KEY']}"})
    assert verdict.json()["code"] == "REVOKED"
    deadline = time.monotonic() + 10
    mine: list[dict[str, object]] = []
    while not mine and time.monotonic() < deadline:
        page = json.loads(keyplane("alerts", "list", "--type", "key.revoked_used", "--json").stdout)
        mine = [a for a in page["items"] if a["subject"] == {"kind": "key", "id": key["id"]}]
        time.sleep(0.2)
    [alert] = mine
    table = keyplane("alerts", "list", "--state", "open")
    assert table.exit_code == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:5] == ["ID", "TYPE", "SEVERITY", "STATE", "SUBJECT"]
    assert any(alert["id"] in row and f"key:{key['id']}" in row for row in rows)
    acked = keyplane("alerts", "ack", str(alert["id"]))
    assert acked.exit_code == 0 and "acknowledged" in acked.stdout
    resolved = json.loads(keyplane("alerts", "resolve", str(alert["id"]), "--json").stdout)
    assert resolved["state"] == "resolved"
    missing = keyplane("alerts", "get", "alr_00000000000000000000000000")
    assert missing.exit_code != 0
