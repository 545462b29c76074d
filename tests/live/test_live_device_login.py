"""`keyplane login` against a live `keyplane serve`: the CLI runs the device flow from the
device's side while the test, as a browser, logs in and approves (or denies) on the pages."""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import subprocess

import httpx
import pytest
from live.serving import isolated_env, keyplane_command, start

pytestmark = pytest.mark.live

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_REQUEST = re.compile(r'name="request" value="([^"]+)"')


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root_key = "live-root-" + secrets.token_urlsafe(32)
    served = start(tmp_path_factory.mktemp("live-device"), KEYPLANE_ROOT_KEY=root_key,
                   KEYPLANE_DEVICE_POLL_INTERVAL_SECONDS="1")
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {root_key}"},
                      timeout=10) as admin:
        assert admin.post("/v1/users", json={"username": "alice", "password": PASSWORD}).status_code == 201
        client = admin.post("/v1/clients", json={
            "name": "keyplane CLI", "type": "public", "token_endpoint_auth_method": "none",
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
            "scopes": ["documents.read", "documents.write"], "audiences": ["https://api.example.com"]})
        assert client.status_code == 201, client.text
        yield served, root_key, client.json()
    served.stop()


def _login_cli(served, client_id: str, *args: str) -> subprocess.Popen[str]:
    env = isolated_env(served.log_path.parent)
    return subprocess.Popen(
        [*keyplane_command(), "login", "--issuer", served.url, "--client-id", client_id, *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _prompt(cli: subprocess.Popen[str]) -> tuple[str, str]:
    """The verification URI and user code the CLI tells its user."""
    assert cli.stderr is not None
    line = cli.stderr.readline()
    found = re.fullmatch(r"To sign in, open (\S+) and enter the code ([B-Z]{4}-[B-Z]{4})\n", line)
    assert found, line + (cli.stderr.read() if cli.poll() is not None else "")
    return found.group(1), found.group(2)


def _browse_to_decision(browser: httpx.Client, served, verification_uri: str,
                        user_code: str) -> httpx.Response:
    assert verification_uri == served.url + "/device"
    first = browser.get("/device")
    assert first.status_code == 303 and first.headers["location"].startswith("/login?next=")
    login_page = browser.get(first.headers["location"])
    logged_in = browser.post("/login", data={
        "csrf_token": _CSRF.search(login_page.text).group(1), "username": "alice",
        "password": PASSWORD, "next": "/device"})
    assert logged_in.status_code == 303 and logged_in.headers["location"] == "/device"
    code_page = browser.get("/device")
    decision = browser.post("/device", data={"csrf_token": _CSRF.search(code_page.text).group(1),
                                             "user_code": user_code})
    assert decision.status_code == 200, decision.text
    return decision


def _decide(browser: httpx.Client, decision: httpx.Response, answer: str) -> None:
    response = browser.post("/device/decision", data={
        "csrf_token": _CSRF.search(decision.text).group(1),
        "request": _REQUEST.search(decision.text).group(1), "decision": answer})
    assert response.status_code == 200, response.text


def test_keyplane_login_prints_tokens_once_the_user_approves(server):
    served, root_key, client = server
    cli = _login_cli(served, client["client_id"], "--scope", "documents.read")
    try:
        verification_uri, user_code = _prompt(cli)
        with httpx.Client(base_url=served.url, timeout=10) as browser:
            decision = _browse_to_decision(browser, served, verification_uri, user_code)
            assert "keyplane CLI" in decision.text
            _decide(browser, decision, "approve")
        stdout, stderr = cli.communicate(timeout=30)
    finally:
        cli.kill()
        cli.communicate()
    assert cli.returncode == 0, stderr
    tokens = json.loads(stdout)
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "documents.read"
    with httpx.Client(base_url=served.url, timeout=10) as http:
        info = http.post("/oauth/introspect", data={"token": tokens["access_token"]},
                         headers={"Authorization": f"Bearer {root_key}"}).json()
        assert info["active"] and info["client_id"] == client["client_id"]
        refreshed = http.post("/oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "client_id": client["client_id"]})
        assert refreshed.status_code == 200, refreshed.text


def test_keyplane_login_saves_tokens_readable_by_the_user_only(server, tmp_path):
    served, _root_key, client = server
    target = tmp_path / "tokens.json"
    cli = _login_cli(served, client["client_id"], "--save", str(target))
    try:
        verification_uri, user_code = _prompt(cli)
        with httpx.Client(base_url=served.url, timeout=10) as browser:
            decision = _browse_to_decision(browser, served, verification_uri, user_code)
            _decide(browser, decision, "approve")
        stdout, stderr = cli.communicate(timeout=30)
    finally:
        cli.kill()
        cli.communicate()
    assert cli.returncode == 0, stderr
    assert stdout == ""  # the tokens went to the file only
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert json.loads(target.read_text())["access_token"]


def test_keyplane_login_fails_when_the_user_denies(server):
    served, _root_key, client = server
    cli = _login_cli(served, client["client_id"])
    try:
        verification_uri, user_code = _prompt(cli)
        with httpx.Client(base_url=served.url, timeout=10) as browser:
            decision = _browse_to_decision(browser, served, verification_uri, user_code)
            _decide(browser, decision, "deny")
        stdout, stderr = cli.communicate(timeout=30)
    finally:
        cli.kill()
        cli.communicate()
    assert cli.returncode == 1 and stdout == ""
    assert "denied" in stderr and "Traceback" not in stderr


def test_keyplane_login_refuses_an_issuer_that_is_not_keyplane(server):
    served, _root_key, client = server
    result = subprocess.run(
        [*keyplane_command(), "login", "--issuer", served.url + "/nothing-here", "--client-id",
         client["client_id"]], capture_output=True, text=True, timeout=30, check=False,
        env=isolated_env(served.log_path.parent))
    assert result.returncode == 1 and "no OAuth metadata" in result.stderr, result.stderr
