"""The database not answering is a 503 the client may retry, never a 500."""

import json
import sqlite3

import pytest
from running_app import running_app

from keyplane.errors import StoreUnavailable
from keyplane.http.errors import oauth_error
from keyplane.store import engine


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_database_locked_past_the_busy_timeout_is_a_503_problem(settings, clock, root_key,
                                                                       monkeypatch):
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 100)  # not 10 s of waiting
    async with running_app(settings, clock=clock, root_key=root_key) as (http, app):
        assert (await http.post("/v1/apis", json={"name": "before"})).status_code == 201
        path = app.state.services.db.sqlite_path
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
        try:
            response = await http.post("/v1/apis", json={"name": "while locked"})
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 503
        after = await http.post("/v1/apis", json={"name": "after"})
        assert after.status_code == 201  # nothing stuck: the next request goes through


def test_at_an_oauth_endpoint_it_reads_as_temporarily_unavailable():
    response = oauth_error(StoreUnavailable("the database is unavailable or busy; try again"))
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.headers["cache-control"] == "no-store"
    assert json.loads(response.body)["error"] == "temporarily_unavailable"
