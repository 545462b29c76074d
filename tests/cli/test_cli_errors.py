"""What the management commands say when the service is down or says no."""

from __future__ import annotations

import pytest
from live.serving import free_port

pytestmark = pytest.mark.live


def test_a_service_that_is_down_is_a_clear_message_and_status_1(keyplane) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    ran = keyplane("apis", "list", env={"KEYPLANE_URL": url})
    assert ran.exit_code == 1
    assert ran.stderr.splitlines()[0] == f"error: cannot connect to keyplane at {url} (connection refused)"
    assert "keyplane serve" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_the_console_script_reports_a_service_that_is_down_without_traceback(
        keyplane_process) -> None:
    ran = keyplane_process("keys", "list", env={
        "KEYPLANE_URL": f"http://127.0.0.1:{free_port()}",
        "KEYPLANE_ROOT_KEY": "x" * 40})
    assert ran.exit_code == 1
    assert "cannot connect to keyplane" in ran.stderr
    assert "Traceback" not in ran.stderr and ran.stdout == ""


def test_an_unknown_id_is_status_1_with_the_detail_on_stderr(keyplane) -> None:
    for args in (("keys", "get", "key_unknown"), ("apis", "get", "api_unknown"),
                 ("root-keys", "delete", "key_unknown"), ("keys", "revoke", "key_unknown")):
        ran = keyplane(*args)
        assert ran.exit_code == 1, args
        assert ran.stdout == ""
        assert ran.stderr.startswith("error: 404 Not Found: "), ran.stderr
        assert "unknown" in ran.stderr


def test_an_id_with_a_slash_stays_one_path_segment(keyplane) -> None:
    ran = keyplane("keys", "get", "../apis")
    assert ran.exit_code == 1
    assert "404" in ran.stderr


def test_the_option_overrides_the_environment(keyplane, user_env) -> None:
    ran = keyplane("apis", "list", "--url", user_env["KEYPLANE_URL"] + "/",
                   env={"KEYPLANE_URL": "http://127.0.0.1:9"})
    assert ran.exit_code == 0, ran.stderr


def test_a_wrong_root_key_is_status_1_with_a_hint(keyplane) -> None:
    ran = keyplane("keys", "list", "--root-key", "w" * 40)
    assert ran.exit_code == 1
    assert "401 Unauthorized" in ran.stderr and "KEYPLANE_ROOT_KEY" in ran.stderr
    assert "w" * 40 not in ran.stderr
