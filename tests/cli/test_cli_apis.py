"""`keyplane apis ...` against a live service, as tables and as JSON."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.live


def _create_api(keyplane, name: str, *args: str) -> dict:
    made = keyplane("apis", "create", name, *args, "--json")
    assert made.exit_code == 0, made.stderr
    return json.loads(made.stdout)


def test_apis_create_prints_the_new_api_for_people_and_for_scripts(keyplane) -> None:
    shown = keyplane("apis", "create", "billing", "--key-prefix", "sk_bill")
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.startswith("Created API api_")
    assert "key_prefix  sk_bill" in shown.stdout

    api = _create_api(keyplane, "invoices", "--key-prefix", "sk_inv")
    assert api["id"].startswith("api_") and api["key_prefix"] == "sk_inv"
    assert set(api) == {"id", "name", "key_prefix", "created_at", "rotation_days"}
    policy = _create_api(keyplane, "rotated", "--rotation-days", "90")
    assert policy["rotation_days"] == 90


def test_apis_list_shows_a_table_and_json_with_the_next_cursor(keyplane) -> None:
    api = _create_api(keyplane, "listed")
    table = keyplane("apis", "list", "--all")
    assert table.exit_code == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "KEY", "PREFIX", "CREATED"]
    assert any(row.startswith(api["id"]) and " listed " in row for row in rows)

    page = json.loads(keyplane("apis", "list", "--limit", "1", "--json").stdout)
    assert len(page["items"]) == 1 and page["next_cursor"]
    more = keyplane("apis", "list", "--limit", "1")
    assert "--cursor" in more.stderr


def test_apis_get_shows_one_api(keyplane) -> None:
    api = _create_api(keyplane, "shown")
    got = keyplane("apis", "get", api["id"])
    assert got.exit_code == 0
    assert f"id          {api['id']}" in got.stdout
    assert json.loads(keyplane("apis", "get", api["id"], "--json").stdout) == api


def test_apis_delete_refuses_while_keys_exist_and_says_how_to_force(keyplane) -> None:
    api = _create_api(keyplane, "doomed")
    assert keyplane("keys", "create", "--api-id", api["id"]).exit_code == 0

    refused = keyplane("apis", "delete", api["id"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: 409 Conflict: ")
    assert "--force" in refused.stderr

    forced = keyplane("apis", "delete", api["id"], "--force")
    assert forced.exit_code == 0
    assert forced.stdout.strip() == f"Deleted API {api['id']}"
    gone = keyplane("apis", "get", api["id"])
    assert gone.exit_code == 1 and "404" in gone.stderr


def test_roles_are_put_listed_and_deleted(keyplane) -> None:
    api = _create_api(keyplane, "roled")
    put = keyplane("apis", "roles", "put", api["id"], "reader", "-p", "docs.read",
                   "--permission", "docs.list")
    assert put.exit_code == 0, put.stderr
    assert "grants: docs.read, docs.list" in put.stdout

    listed = keyplane("apis", "roles", "list", api["id"])
    assert listed.stdout.splitlines()[0].split() == ["NAME", "PERMISSIONS", "UPDATED"]
    assert "reader  docs.read, docs.list" in listed.stdout
    roles = json.loads(keyplane("apis", "roles", "list", api["id"], "--json").stdout)["items"]
    assert [(r["name"], r["permissions"]) for r in roles] == [("reader", ["docs.read", "docs.list"])]

    assert keyplane("apis", "roles", "delete", api["id"], "reader").exit_code == 0
    assert keyplane("apis", "roles", "list", api["id"]).stdout.strip() == "No roles."


def test_a_rejected_field_is_shown_with_its_message(keyplane) -> None:
    bad = keyplane("apis", "create", "x", "--key-prefix", "Not A Prefix")
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: 422 ")
    assert "key_prefix" in bad.stderr and "lower-case" in bad.stderr
