"""`keyplane root-keys ...`: narrower credentials for the management API."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.live

ROOT_KEY = re.compile(r"kp_root_[0-9A-Za-z]{28}")


def test_a_created_root_key_is_printed_once_and_holds_only_its_permissions(keyplane) -> None:
    made = keyplane("root-keys", "create", "reader", "--permission", "keys.read", "-p", "apis.read")
    assert made.exit_code == 0, made.stderr
    assert made.stdout.startswith("Created root key key_")
    assert "permissions  keys.read, apis.read" in made.stdout
    (reader,) = ROOT_KEY.findall(made.stdout)

    assert keyplane("keys", "list", env={"KEYPLANE_ROOT_KEY": reader}).exit_code == 0
    denied = keyplane("apis", "create", "nope", env={"KEYPLANE_ROOT_KEY": reader})
    assert denied.exit_code == 1
    assert denied.stderr.startswith("error: 403 Forbidden: ")
    assert "apis.write" in denied.stderr


def test_root_keys_list_shows_ids_and_starts_never_keys(keyplane) -> None:
    made = json.loads(keyplane("root-keys", "create", "ci", "-p", "keys.*", "--json").stdout)
    assert ROOT_KEY.fullmatch(made["key"])
    table = keyplane("root-keys", "list", "--all")
    assert table.stdout.splitlines()[0].split() == ["ID", "NAME", "START", "PERMISSIONS", "API", "CREATED"]
    assert made["id"] in table.stdout and "keys.*" in table.stdout
    raw = keyplane("root-keys", "list", "--json").stdout
    assert made["key"] not in table.stdout + raw
    assert not ROOT_KEY.search(table.stdout + raw)
    shown = keyplane("root-keys", "get", made["id"])
    assert "name         ci" in shown.stdout and made["key"] not in shown.stdout


def test_a_deleted_root_key_stops_working_at_once(keyplane) -> None:
    made = json.loads(keyplane("root-keys", "create", "temp", "-p", "*", "--json").stdout)
    assert keyplane("apis", "list", env={"KEYPLANE_ROOT_KEY": made["key"]}).exit_code == 0
    deleted = keyplane("root-keys", "delete", made["id"])
    assert deleted.exit_code == 0 and deleted.stdout.strip() == f"Deleted root key {made['id']}"
    refused = keyplane("apis", "list", env={"KEYPLANE_ROOT_KEY": made["key"]})
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: 401 Unauthorized: invalid root key")
    assert "Check KEYPLANE_ROOT_KEY" in refused.stderr
    assert made["key"] not in refused.stderr


def test_an_unknown_permission_is_refused_with_the_field_error(keyplane) -> None:
    ran = keyplane("root-keys", "create", "odd", "-p", "everything")
    assert ran.exit_code == 1
    assert "permissions" in ran.stderr and "unknown permission" in ran.stderr


def test_a_root_key_bound_to_an_api_is_what_apis_create_suggests_for_its_sdk(keyplane) -> None:
    created = keyplane("apis", "create", "documents")
    assert created.exit_code == 0, created.stderr
    api_id = re.search(r"api_[0-9A-Za-z]+", created.stdout).group(0)
    assert f"keyplane root-keys create 'documents' --api-id {api_id} --permission keys.verify" in created.stdout
    other = json.loads(keyplane("apis", "create", "billing", "--json").stdout)

    made = keyplane("root-keys", "create", "documents-sdk", "--api-id", api_id, "-p", "keys.read", "--json")
    assert made.exit_code == 0, made.stderr
    scoped = json.loads(made.stdout)
    assert scoped["api_id"] == api_id
    assert keyplane("keys", "list", "--api-id", api_id, env={"KEYPLANE_ROOT_KEY": scoped["key"]}).exit_code == 0
    denied = keyplane("keys", "list", "--api-id", other["id"], env={"KEYPLANE_ROOT_KEY": scoped["key"]})
    assert denied.exit_code == 1 and denied.stderr.startswith("error: 403 Forbidden: ")
    wide = keyplane("root-keys", "create", "x", "--api-id", api_id, "-p", "apis.read")
    assert wide.exit_code == 1 and "permissions" in wide.stderr
