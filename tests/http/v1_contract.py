"""What the HTTP contract tests share: problem assertions, requests without auth, keys, verify,
page walks. (A module, not conftest.py: tests import it by name.)"""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, *, field: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status`; `field` names a validation error
    (or the list or object holding it: `permissions` matches `permissions[0]`)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON, response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str) and body[member], body
    if field is not None:
        assert isinstance(body.get("errors"), list), body
        for error in body["errors"]:
            assert set(error) == {"field", "message"}, error
        fields = [e["field"] for e in body["errors"]]
        assert any(f == field or f.startswith((field + "[", field + ".")) for f in fields), body
    return body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def send_without_auth(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    request = http.build_request(method, url, **kwargs)
    del request.headers["authorization"]
    return await http.send(request)


async def post_raw(http: httpx.AsyncClient, url: str, content: bytes | str, method: str = "POST",
                   content_type: str = "application/json") -> httpx.Response:
    return await http.request(method, url, content=content, headers={"content-type": content_type})


async def create_key(http: httpx.AsyncClient, api: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = await http.post("/v1/keys", json={"api_id": api["id"], **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def verify(http: httpx.AsyncClient, key: str, **fields: Any) -> dict[str, Any]:
    response = await http.post("/v1/keys/verify", json={"key": key, **fields})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return dict(response.json())


async def walk(http: httpx.AsyncClient, url: str, limit: int, **params: Any) -> list[list[dict[str, Any]]]:
    """Every page of a list endpoint, following next_cursor."""
    pages: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await http.get(url, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "pagination does not end"
