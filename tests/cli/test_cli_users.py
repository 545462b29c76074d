"""`keyplane users ...` and `keyplane roles ...` against a live service, as typed."""

from __future__ import annotations

import json
import os
import pty
import secrets
import select
import subprocess
import time
from pathlib import Path

import pytest
from live.serving import isolated_env, keyplane_command

pytestmark = pytest.mark.live

PASSWORD = "a long enough password"


def _name() -> str:
    return "user-" + secrets.token_hex(4)


def _in_a_terminal(args: list[str], env: dict[str, str], answers: list[str],
                   tmp_path: Path) -> tuple[int, str]:
    """The console script with a terminal (a pseudo-terminal) as its standard input and
    output, answering each `Password` prompt in turn: (exit status, what the terminal showed)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([*keyplane_command(), *args], stdin=follower, stdout=follower,
                               stderr=follower, env=isolated_env(tmp_path, **env), cwd=tmp_path,
                               start_new_session=True)  # no other terminal to prompt on
    os.close(follower)
    shown, pending, deadline = b"", list(answers), time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the process ended and closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
                if pending and shown.count(b": ") > len(answers) - len(pending):
                    os.write(leader, pending.pop(0).encode() + b"\n")
            elif process.poll() is not None:
                break
        return process.wait(timeout=10), shown.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)


def test_users_create_asks_for_the_password_in_a_terminal_and_never_shows_it(
        user_env, tmp_path) -> None:
    name = _name()
    status, shown = _in_a_terminal(["users", "create", name], user_env, [PASSWORD, PASSWORD],
                                   tmp_path)
    assert status == 0, shown
    assert "Password: " in shown and "Repeat for confirmation: " in shown
    assert "Created user usr_" in shown and f"username       {name}" in shown
    assert PASSWORD not in shown  # asked for hidden: the terminal did not echo it


def test_users_create_without_a_terminal_fails_at_once_naming_password_stdin(keyplane) -> None:
    started = time.monotonic()
    made = keyplane("users", "create", _name())
    assert made.exit_code == 2
    assert time.monotonic() - started < 5
    assert made.stderr.startswith("error: no terminal to ask for the password on: pipe it in "
                                  "with --password-stdin")
    assert "Aborted" not in made.stderr and "Warning" not in made.stderr
    assert keyplane("users", "update", "usr_00000000000000000000000000", "--password").exit_code == 2


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


def test_a_user_s_name_and_email_are_set_shown_and_cleared_from_the_shell(keyplane) -> None:
    name = _name()
    made = keyplane("users", "create", name, "--name", "Ada Lovelace", "--email", "ada@Example.com",
                    "--email-verified", "--password-stdin", stdin=PASSWORD + "\n")
    assert made.exit_code == 0, made.stderr
    assert "name           Ada Lovelace" in made.stdout
    assert "email          ada@example.com (verified)" in made.stdout
    user_id = next(line.split()[1] for line in made.stdout.splitlines() if line.startswith("id "))

    shown = json.loads(keyplane("users", "show", user_id, "--json").stdout)
    assert (shown["name"], shown["email"], shown["email_verified"]) == ("Ada Lovelace", "ada@example.com", True)
    listed = keyplane("users", "list")
    assert "NAME" in listed.stdout and "EMAIL" in listed.stdout
    assert any(name in line and "ada@example.com" in line for line in listed.stdout.splitlines())

    unverified = keyplane("users", "update", user_id, "--no-email-verified")
    assert unverified.exit_code == 0, unverified.stderr
    assert "email          ada@example.com (unverified)" in unverified.stdout
    cleared = keyplane("users", "update", user_id, "--clear-name", "--clear-email", "--json")
    assert cleared.exit_code == 0, cleared.stderr
    assert (json.loads(cleared.stdout)["name"], json.loads(cleared.stdout)["email"]) == (None, None)
    both = keyplane("users", "update", user_id, "--email", "a@example.com", "--clear-email")
    assert both.exit_code == 2 and "--clear-email" in both.stderr

    bad = keyplane("users", "update", user_id, "--email", "ada at example.com")
    assert bad.exit_code != 0 and "email" in bad.stderr and "422" in bad.stderr
    assert keyplane("users", "delete", user_id).exit_code == 0
