"""Helpers of the users and browser tests: forms as a browser fills them."""

from __future__ import annotations

import re
from typing import Any

import httpx

PASSWORD = "correct horse battery staple"
PROBLEM_JSON = "application/problem+json"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def assert_problem(response: httpx.Response, status: int, *, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON, response.headers
    if field is not None:
        fields = [e["field"] for e in response.json()["errors"]]
        assert any(f == field or f.startswith((field + "[", field + ".")) for f in fields), fields


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def create_user(http: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD,
                      **fields: Any) -> dict[str, Any]:
    response = await http.post("/v1/users", json={"username": username, "password": password, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def log_in(browser: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD,
                 next_path: str | None = None) -> httpx.Response:
    page = await browser.get("/login", params={"next": next_path} if next_path else None)
    assert page.status_code == 200, page.text
    form = {"csrf_token": csrf_of(page), "username": username, "password": password}
    if next_path:
        form["next"] = next_path
    return await browser.post("/login", data=form)


AUDIENCE = "https://api.example.com"
REDIRECT_URI = "http://127.0.0.1:8765/callback"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def pkce_pair() -> tuple[str, str]:
    import base64
    import hashlib
    import secrets

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


async def create_client(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "Photo Printer", "type": "public", "grant_types": ["authorization_code"],
            "redirect_uris": [REDIRECT_URI], "scopes": ["photos.read", "photos.write", "admin.all"],
            "audiences": [AUDIENCE], **fields}
    response = await http.post("/v1/clients", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def query_of(location: str) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(location).query))
