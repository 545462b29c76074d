"""`keyplane bootstrap`, `keyplane migrate`, and how `keyplane` reports bad configuration."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.live

ROOT_KEY = re.compile(r"kp_root_[0-9A-Za-z]{28}")


def test_bootstrap_prints_a_root_key_that_works_against_the_running_service(keyplane) -> None:
    made = keyplane("bootstrap", "--force", env={"KEYPLANE_ROOT_KEY": None})
    assert made.exit_code == 0, made.stderr
    keys = ROOT_KEY.findall(made.stdout)
    assert len(keys) == 1, "the key is printed exactly once"
    assert "KEYPLANE_ROOT_KEY" in made.stdout and "Authorization: Bearer" in made.stdout

    listed = keyplane("apis", "list", env={"KEYPLANE_ROOT_KEY": keys[0]})
    assert listed.exit_code == 0, listed.stderr


def test_bootstrap_json_prints_the_id_and_the_key_only(keyplane) -> None:
    made = keyplane("bootstrap", "--json", "--force", env={"KEYPLANE_ROOT_KEY": None})
    assert made.exit_code == 0, made.stderr
    body = json.loads(made.stdout)
    assert set(body) == {"id", "key"}
    assert body["id"].startswith("key_") and ROOT_KEY.fullmatch(body["key"])

    listed = keyplane("root-keys", "list", "--json")
    by_id = {k["id"]: k for k in json.loads(listed.stdout)["items"]}
    assert by_id[body["id"]]["permissions"] == ["*"]
    assert body["key"] not in listed.stdout


def _root_key_ids(keyplane) -> set[str]:
    listed = keyplane("root-keys", "list", "--all", "--json")
    assert listed.exit_code == 0, listed.stderr
    return {k["id"] for k in json.loads(listed.stdout)["items"]}


def test_bootstrap_refuses_when_root_keys_exist_saying_how_many_and_how_to_list_them(
        keyplane) -> None:
    before = _root_key_ids(keyplane)
    for args in (("bootstrap",), ("bootstrap", "--json")):
        refused = keyplane(*args, env={"KEYPLANE_ROOT_KEY": None})
        assert refused.exit_code == 1
        assert refused.stdout == "" and not ROOT_KEY.search(refused.stderr)
        count = "1 root key exists" if len(before) == 1 else f"{len(before)} root keys exist"
        assert refused.stderr.startswith(f"error: {count} already in "), refused.stderr
        assert "keyplane root-keys list" in refused.stderr
        assert "keyplane bootstrap --force" in refused.stderr
    assert _root_key_ids(keyplane) == before


def test_bootstrap_with_force_adds_one_and_the_audit_log_records_it(keyplane) -> None:
    before = _root_key_ids(keyplane)
    made = keyplane("bootstrap", "--force", "--json", env={"KEYPLANE_ROOT_KEY": None})
    assert made.exit_code == 0, made.stderr
    new_id = json.loads(made.stdout)["id"]
    assert _root_key_ids(keyplane) == before | {new_id}
    assert f"warning: {len(before)} root key" in made.stderr and "(--force)" in made.stderr
    audit = keyplane("audit", "--action", "root_key.create", "--json")
    [entry] = [e for e in json.loads(audit.stdout)["items"] if e["target"] == new_id]
    assert entry["actor"] == "system"
    assert entry["details"] == {"name": "bootstrap", "permissions": ["*"]}


def test_bootstrap_help_says_what_json_prints_and_what_force_does(keyplane) -> None:
    shown = keyplane("bootstrap", "--help").stdout
    assert 'Print {"id": ..., "key": ...} as JSON' in shown
    assert "service's JSON response" not in shown
    assert "--force" in shown


def test_the_console_script_completes_commands_and_options_for_the_shell(keyplane_process) -> None:
    assert "--install-completion" in keyplane_process("--help").stdout
    for words, cword, expected in (("keyplane ke", "1", "keys"), ("keyplane keys cr", "2", "create"),
                                   ("keyplane keys create --ref", "3", "--refill")):
        ran = keyplane_process(env={"_KEYPLANE_COMPLETE": "complete_bash", "COMP_WORDS": words,
                                    "COMP_CWORD": cword})
        assert ran.exit_code == 0, ran.stderr
        assert ran.stdout.split() == [expected], words
    script = keyplane_process("--show-completion", "bash")
    assert "complete -o default -F _keyplane_completion keyplane" in script.stdout


def test_bootstrap_works_before_the_service_ever_ran(keyplane_alone) -> None:
    made = keyplane_alone("bootstrap", "--json")
    assert made.exit_code == 0, made.stderr
    assert ROOT_KEY.fullmatch(json.loads(made.stdout)["key"])
    assert "generated one" in made.stderr  # the secret key, with the warning to back it up


def test_migrate_migrates_an_empty_database_then_has_nothing_to_do(keyplane_alone) -> None:
    first = keyplane_alone("migrate")
    assert first.exit_code == 0, first.stderr
    assert "from an empty database to revision" in first.stdout
    again = keyplane_alone("migrate")
    assert again.exit_code == 0
    assert "nothing to do" in again.stdout


def test_serve_with_a_too_short_root_key_exits_2_with_one_line_and_no_traceback(
        keyplane_process) -> None:
    ran = keyplane_process("serve", "--port", "9", env={"KEYPLANE_ROOT_KEY": "too-short"})
    assert ran.exit_code == 2
    assert ran.stderr.strip().splitlines() == [
        "error: invalid configuration: KEYPLANE_ROOT_KEY: must be at least 32 characters"]
    assert "too-short" not in ran.stderr + ran.stdout


def test_serve_refuses_a_secret_key_other_than_the_databases_with_status_2(
        keyplane_process, user_env) -> None:
    ran = keyplane_process("serve", "--port", "9", env={
        "KEYPLANE_DATA_DIR": user_env["KEYPLANE_DATA_DIR"],
        "KEYPLANE_SECRET_KEY": "another-secret-" + "x" * 32})
    assert ran.exit_code == 2
    assert "KEYPLANE_SECRET_KEY differs" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_an_unsupported_database_url_is_bad_configuration(keyplane_alone) -> None:
    ran = keyplane_alone("migrate", env={"KEYPLANE_DATABASE_URL": "mysql://root@127.0.0.1/x"})
    assert ran.exit_code == 2
    assert "only sqlite:// and postgresql:// are supported" in ran.stderr


def test_an_unreachable_database_is_one_line_without_the_password(keyplane_alone) -> None:
    ran = keyplane_alone("bootstrap", env={
        "KEYPLANE_DATABASE_URL": "postgresql://someone:hunter2hunter2@127.0.0.1:9/none"})
    assert ran.exit_code == 1
    assert ran.stderr.splitlines()[-1].startswith(
        "error: cannot use the database postgresql://someone:***@127.0.0.1:9/none: ")
    assert "hunter2" not in ran.stderr


def test_a_management_command_with_a_too_short_root_key_exits_2(keyplane) -> None:
    ran = keyplane("apis", "list", env={"KEYPLANE_ROOT_KEY": "short"})
    assert ran.exit_code == 2
    assert "KEYPLANE_ROOT_KEY" in ran.stderr and "short" not in ran.stdout


def test_a_management_command_without_a_root_key_says_how_to_get_one(keyplane) -> None:
    ran = keyplane("keys", "list", env={"KEYPLANE_ROOT_KEY": None})
    assert ran.exit_code == 2
    assert "keyplane bootstrap" in ran.stderr


def test_a_bad_log_level_is_bad_configuration(keyplane_process) -> None:
    ran = keyplane_process("serve", "--port", "9", env={"KEYPLANE_LOG_LEVEL": "loud"})
    assert ran.exit_code == 2
    assert "KEYPLANE_LOG_LEVEL" in ran.stderr


def test_an_unknown_server_is_bad_configuration(keyplane_process) -> None:
    ran = keyplane_process("serve", "--port", "9", env={"KEYPLANE_SERVER": "nginx"})
    assert ran.exit_code == 2
    assert "KEYPLANE_SERVER" in ran.stderr and "granian, uvicorn" in ran.stderr
