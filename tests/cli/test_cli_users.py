"""`keyplane users ...` and `keyplane roles ...` against a live service, as typed."""

from __future__ import annotations

import json
import secrets

import pytest

pytestmark = pytest.mark.live

PASSWORD = "a long enough password"


def _name() -> str:
    return "user-" + secrets.token_hex(4)


def test_users_create_asks_for_the_password_and_never_prints_it(keyplane) -> None:
    name = _name()
    made = keyplane("users", "create", name, stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0, made.stderr
    assert "Created user usr_" in made.stdout  # after the prompts' line ends
    assert f"username       {name}" in made.stdout and "status         active" in made.stdout
    assert PASSWORD not in made.stdout and PASSWORD not in made.stderr


def test_a_user_is_managed_from_the_shell_with_json_for_scripts(keyplane) -> None:
    role = keyplane("roles", "set", "support", "-s", "tickets.read", "-s", "tickets.write", "--json")
    assert role.exit_code == 0, role.stderr
    assert json.loads(role.stdout)["scopes"] == ["tickets.read", "tickets.write"]
    assert "support" in keyplane("roles", "list").stdout

    name = _name()
    made = keyplane("users", "create", name, "--role", "support", "--password-stdin", "--json",
                    stdin=PASSWORD + "\n")
    assert made.exit_code == 0, made.stderr
    user = json.loads(made.stdout)
    assert user["roles"] == ["support"] and "password" not in user

    listed = keyplane("users", "list")
    assert "USERNAME" in listed.stdout and name in listed.stdout
    assert keyplane("users", "show", user["id"], "--json").exit_code == 0

    disabled = keyplane("users", "disable", user["id"])
    assert disabled.exit_code == 0 and "status         disabled" in disabled.stdout
    enabled = keyplane("users", "enable", user["id"], "--json")
    assert json.loads(enabled.stdout)["disabled"] is False
    renamed = keyplane("users", "update", user["id"], "--username", name + "-2", "--clear-roles", "--json")
    assert json.loads(renamed.stdout)["username"] == name + "-2" and json.loads(renamed.stdout)["roles"] == []
    changed = keyplane("users", "update", user["id"], "--password-stdin", stdin="another password\n")
    assert changed.exit_code == 0, changed.stderr

    assert keyplane("users", "consents", user["id"]).stdout.strip() == "No consents."
    missing = keyplane("users", "revoke-consent", user["id"], "cli_00000000000000000000000000")
    assert missing.exit_code != 0 and "404" in missing.stderr

    assert keyplane("roles", "delete", "support").exit_code == 0
    assert keyplane("users", "delete", user["id"]).stdout.startswith("Deleted user")
    assert keyplane("users", "show", user["id"]).exit_code != 0


def test_a_short_password_is_refused_with_the_services_reason(keyplane) -> None:
    made = keyplane("users", "create", _name(), "--password-stdin", stdin="short\n")
    assert made.exit_code != 0
    assert "password" in made.stderr
