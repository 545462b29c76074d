"""The hot endpoints answer ahead of the app's middleware (http/hot_paths.py) and still
answer as every other route: the same headers, the same error bodies, 405 to other methods."""

from __future__ import annotations

import httpx


async def test_verify_answers_carry_the_security_headers(http: httpx.AsyncClient, api):
    made = await http.post("/v1/keys", json={"api_id": api["id"], "name": "k"})
    answer = await http.post("/v1/keys/verify", json={"key": made.json()["key"]})
    assert answer.status_code == 200 and answer.json()["code"] == "VALID"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-type"] == "application/json"


async def test_verify_errors_are_problems_with_the_security_headers(http: httpx.AsyncClient):
    refused = await http.post("/v1/keys/verify", json={"key": "x"}, headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"] == 'Bearer realm="keyplane"'
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert refused.headers["cache-control"] == "no-store"
    assert refused.json()["status"] == 401
    invalid = await http.post("/v1/keys/verify", json={"key": "x", "cost": "many"})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "cost"


async def test_other_methods_on_hot_paths_go_through_the_router(http: httpx.AsyncClient):
    for path in ("/v1/keys/verify", "/oauth/token", "/oauth/introspect"):
        answer = await http.get(path)
        assert answer.status_code == 405, (path, answer.text)
        assert answer.headers["x-content-type-options"] == "nosniff"


async def test_oauth_errors_keep_their_shape(http: httpx.AsyncClient):
    refused = await http.post("/oauth/token", data={"grant_type": "client_credentials"},
                              headers={"Authorization": "Basic bm9ib2R5Om5vdGhpbmc="})
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    assert refused.headers["cache-control"] == "no-store"
    assert refused.headers["x-content-type-options"] == "nosniff"
    unreadable = await http.post("/oauth/introspect", content=b"token=x",
                                 headers={"Content-Type": "text/plain"})
    assert unreadable.status_code == 400 and unreadable.json()["error"] == "invalid_request"
