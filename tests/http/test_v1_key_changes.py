"""GET /v1/keys/changes: who may follow it, and when it refuses (the stream is exercised
against live servers in tests/live/test_live_verifier.py and
tests/live/test_live_propagation.py, which checks what each caller receives)."""

from __future__ import annotations

import httpx
import pytest
from running_app import running_app


@pytest.fixture
async def app_and_http(settings, clock, root_key):
    async with running_app(settings, clock=clock, root_key=root_key) as (http, app):
        yield app, http


async def test_the_stream_needs_a_root_key_with_keys_verify_or_tokens_read(app_and_http):
    _, http = app_and_http
    response = await http.get("/v1/keys/changes", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    limited = (await http.post("/v1/root-keys", json={"name": "reader", "permissions": ["keys.read"]})).json()
    response = await http.get("/v1/keys/changes", headers={"Authorization": f"Bearer {limited['key']}"})
    assert response.status_code == 403
    assert "keys.verify" in response.json()["detail"] and "tokens.read" in response.json()["detail"]


@pytest.mark.parametrize("query", ["api_id=nope", "api_id=api_1&api_id=api_2",
                                   "&".join(f"x{i}=1" for i in range(10))])
async def test_a_bad_api_id_is_a_400(app_and_http, query):
    _, http = app_and_http
    response = await http.get(f"/v1/keys/changes?{query}")
    assert response.status_code == 400, response.text


async def test_no_stream_while_changes_of_other_replicas_could_be_missed(app_and_http):
    app, http = app_and_http
    hub = app.state.services.key_changes
    hub.set_live(False, "redis is unreachable")
    response = await http.get("/v1/keys/changes")
    assert response.status_code == 503
    assert "Redis" in response.json()["detail"]
    assert hub.subscriber_count == 0


async def test_several_workers_without_redis_refuse_the_stream(settings, clock, root_key):
    async with running_app(settings.model_copy(update={"workers": 2}), clock=clock,
                           root_key=root_key) as (http, _):
        response = await http.get("/v1/keys/changes")
    assert response.status_code == 503
    assert "2 worker processes without KEYPLANE_REDIS_URL" in response.json()["detail"]
