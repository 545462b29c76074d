"""`keyplane audit`: the audit log, filtered, as a table and as JSON."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.live


def test_audit_shows_who_did_what_newest_first(keyplane) -> None:
    api = json.loads(keyplane("apis", "create", "audited", "--json").stdout)
    key = json.loads(keyplane("keys", "create", "--api-id", api["id"], "--json").stdout)
    keyplane("keys", "revoke", key["id"])

    table = keyplane("audit", "--since", "10m")
    assert table.exit_code == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["TIME", "ACTOR", "ACTION", "TARGET", "IP", "DETAILS"]
    actions = [row.split()[2] for row in rows if key["id"] in row]
    assert actions[:2] == ["key.revoke", "key.create"]
    assert key["key"] not in table.stdout


def test_audit_filters_by_action_and_target_in_json(keyplane) -> None:
    api = json.loads(keyplane("apis", "create", "filtered", "--json").stdout)
    page = json.loads(keyplane("audit", "--action", "api.create", "--target", api["id"],
                               "--json").stdout)
    (event,) = page["items"]
    assert event["action"] == "api.create" and event["target"] == api["id"]
    assert event["actor"].startswith("key_")
    by_actor = json.loads(keyplane("audit", "--actor", event["actor"], "--limit", "1",
                                   "--json").stdout)
    assert len(by_actor["items"]) == 1 and by_actor["next_cursor"]


def test_audit_rejects_a_time_without_a_zone_with_the_services_message(keyplane) -> None:
    ran = keyplane("audit", "--since", "2020-01-01T00:00:00")
    assert ran.exit_code == 1
    assert "since" in ran.stderr
