"""Twenty requests race with one refresh token against a live `keyplane serve`, on SQLite
and PostgreSQL: exactly one gets tokens. The token comes from a device flow done over HTTP
(the device asks, a person approves on the pages, the device polls)."""

from __future__ import annotations

import re
import secrets
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytestmark = pytest.mark.live

PASSWORD = "correct horse battery staple"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_REQUEST = re.compile(r'name="request" value="([^"]+)"')


def _refresh_token_by_device_flow(served, admin: httpx.Client) -> tuple[dict[str, str], str]:
    username = "racer-" + secrets.token_hex(4)
    assert admin.post("/v1/users", json={"username": username, "password": PASSWORD}).status_code == 201
    created = admin.post("/v1/clients", json={
        "name": "race device", "type": "public", "token_endpoint_auth_method": "none",
        "grant_types": [DEVICE_GRANT, "refresh_token"], "scopes": ["documents.read"],
        "audiences": ["https://api.example.com"]})
    assert created.status_code == 201, created.text
    client_id = created.json()["client_id"]
    with httpx.Client(base_url=served.url, timeout=10) as device, \
            httpx.Client(base_url=served.url, timeout=10) as browser:
        started = device.post("/oauth/device_authorization", data={"client_id": client_id}).json()
        login_page = browser.get("/login")
        assert browser.post("/login", data={"csrf_token": _CSRF.search(login_page.text).group(1),
                                            "username": username, "password": PASSWORD}).status_code == 303
        code_page = browser.get("/device")
        decision = browser.post("/device", data={"csrf_token": _CSRF.search(code_page.text).group(1),
                                                 "user_code": started["user_code"]})
        assert browser.post("/device/decision", data={
            "csrf_token": _CSRF.search(decision.text).group(1),
            "request": _REQUEST.search(decision.text).group(1), "decision": "approve"}).status_code == 200
        tokens = device.post("/oauth/token", data={"grant_type": DEVICE_GRANT, "client_id": client_id,
                                                   "device_code": started["device_code"]})
        assert tokens.status_code == 200, tokens.text
    return {"client_id": client_id}, tokens.json()["refresh_token"]


def test_twenty_concurrent_refreshes_of_one_token_exactly_one_succeeds(served, admin):
    server, _root_key = served
    client, token = _refresh_token_by_device_flow(server, admin)
    racers = 20
    gate = threading.Barrier(racers)
    clients = [httpx.Client(base_url=server.url, timeout=30) for _ in range(racers)]
    try:
        for c in clients:  # connected before the race, so the requests leave together
            assert c.get("/healthz").status_code == 200

        def race(http: httpx.Client) -> httpx.Response:
            gate.wait()
            return http.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token,
                                                   **client})

        with ThreadPoolExecutor(racers) as pool:
            responses = list(pool.map(race, clients))
    finally:
        for c in clients:
            c.close()
    assert Counter(r.status_code for r in responses) == {200: 1, 400: racers - 1}, \
        [r.text for r in responses]
    assert {r.json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
    [winner] = [r.json() for r in responses if r.status_code == 200]
    # The losers raced within the grace: the winner's new refresh token still works.
    again = httpx.post(server.url + "/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": winner["refresh_token"], **client})
    assert again.status_code == 200, again.text
