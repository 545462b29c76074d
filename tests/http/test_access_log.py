"""The access log: one JSON line a request, from notes the loop takes and a thread writes;
the user code redacted; on in served apps at log levels info and below, off otherwise."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from asgi_lifespan import LifespanManager

from keyplane.app import create_app
from keyplane.http.access_log import AccessLog, redact_target


class _Stream(io.BytesIO):
    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.getvalue().splitlines()]


def _logged(settings, clock, stream: _Stream):
    """An app with the access log a served one has, written to `stream`: not served itself,
    whose lifespan would freeze the test process's objects and take its stop signals."""
    app = create_app(settings, clock=clock)
    app.access_log = AccessLog(stream, flush_seconds=0.01)
    return app


async def test_every_request_is_one_json_line(settings, clock, root_key):
    stream = _Stream()
    app = _logged(settings, clock, stream)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("203.0.113.9", 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.post("/v1/keys/verify", json={"key": "x"})).status_code == 401
            assert (await http.get("/healthz")).status_code == 200
            assert (await http.get("/device", params={"user_code": "WXYZ-BCDF"})).status_code in (200, 303)
    verify, health, device = stream.lines()  # written by the time the lifespan ends
    assert verify["method"] == "POST" and verify["path"] == "/v1/keys/verify"
    assert verify["status"] == 401 and verify["client"] == "203.0.113.9:4711"
    assert verify["time"].endswith("Z") and verify["ms"] >= 0 and "query" not in verify
    assert health["path"] == "/healthz" and health["status"] == 200
    assert device["query"] == "user_code=[redacted]"
    assert b"WXYZ" not in stream.getvalue()


def test_on_in_served_apps_at_info_when_turned_on(settings, clock):
    on = settings.model_copy(update={"access_log": True})
    assert create_app(on, clock=clock, served=True).access_log is not None


@pytest.mark.parametrize("changes", [{}, {"access_log": False},
                                     {"access_log": True, "log_level": "warning"}])
async def test_off_by_default_when_turned_off_or_above_info(settings, clock, root_key, changes):
    app = create_app(settings.model_copy(update=changes), clock=clock, served=True)
    assert app.access_log is None


def test_not_in_apps_that_are_not_served(settings, clock):
    assert create_app(settings, clock=clock).access_log is None


@pytest.mark.parametrize(("target", "shown"), [
    ("user_code=WXYZ-BCDF", "user_code=[redacted]"),
    ("next=%2Fdevice%3Fuser_code%3DWXYZ-BCDF&x=1", "next=%2Fdevice%3Fuser_code%3D[redacted]&x=1"),
    ("USER_CODE=abc", "USER_CODE=[redacted]"),
    ("limit=10", "limit=10"),
])
def test_user_codes_are_redacted_at_any_depth(target, shown):
    assert redact_target(target) == shown
