"""The access log of `keyplane serve`: one JSON line a request, on either server, and never
a device's user code: not in `/device?user_code=...` (verification_uri_complete), nor
URL-encoded in the `next` of the login page it redirects to."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from live.serving import start

USER_CODE = "WXYZ-BCDF"


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_user_codes_stay_out_of_the_access_log(tmp_path, server):
    served = start(tmp_path, args=("--server", server), KEYPLANE_ACCESS_LOG="true")
    try:
        with httpx.Client(base_url=served.url, follow_redirects=False) as browser:
            entry = browser.get("/device", params={"user_code": USER_CODE})
            assert entry.status_code == 303  # nobody is signed in: to the login page
            assert browser.get(entry.headers["location"]).status_code == 200
            assert browser.get("/healthz").status_code == 200
        deadline = time.monotonic() + 5
        while "/healthz" not in served.log() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        served.stop()
    log = served.log()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    device = next(line for line in lines if line["path"] == "/device")
    assert device["method"] == "GET" and device["query"] == "user_code=[redacted]", device
    assert device["status"] in (200, 303) and device["ms"] >= 0 and device["time"].endswith("Z")
    assert any(line["path"] == "/healthz" and line["status"] == 200 for line in lines), log
    assert "WXYZ" not in log and "BCDF" not in log
