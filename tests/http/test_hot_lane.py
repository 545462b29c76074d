"""The hot endpoints' short way through uvicorn (http/hot_lane.py), on a real server over
sockets: the same answers as uvicorn's way, keep-alive, pipelining, `Connection: close`,
and every request the lane must not take (a query, a chunked or large body, another
method, `Expect`) still answered uvicorn's way."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from keyplane.app import create_app
from keyplane.config import Settings
from keyplane.http import hot_lane
from keyplane.http.head_limits import LimitedHttpToolsProtocol
from keyplane.http.hot_lane import MAX_LANE_BODY, HotLaneProtocol
from keyplane.http.hot_paths import HOT_PATHS

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # the protocol, not the store


class Server:
    """A uvicorn server on a thread, serving the service app with `protocol`."""

    def __init__(self, settings: Settings, protocol: type) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(create_app(settings, served=False), host="127.0.0.1", port=self.port,
                                http=protocol, loop="asyncio", lifespan="on", access_log=False,
                                server_header=False, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

    def exchange(self, raw: bytes, answers: int = 1) -> list[tuple[int, dict[str, str], bytes]]:
        """`raw` sent at once on one connection; the `answers` responses read back in order."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(raw)
            with sock.makefile("rb") as reader:
                return [_read_response(reader) for _ in range(answers)]


def _read_response(reader: Any) -> tuple[int, dict[str, str], bytes]:
    status = int(reader.readline().split()[1])
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        assert name.lower() not in headers, f"{name} twice"
        headers[name.lower()] = value.strip()
    return status, headers, reader.read(int(headers.get("content-length", "0")))


def post(path: str, body: bytes, root_key: str, *, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {root_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


@pytest.fixture
def lanes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests that took the lane."""
    taken: list[str] = []
    cycle = hot_lane.LaneCycle

    class Counted(cycle):  # type: ignore[misc, valid-type]
        def __init__(self, *, scope: Any, **kwargs: Any) -> None:
            taken.append(scope["path"])
            super().__init__(scope=scope, **kwargs)

    monkeypatch.setattr(hot_lane, "LaneCycle", Counted)
    return taken


@pytest.fixture
def servers(settings: Settings) -> Iterator[tuple[Server, Server]]:
    """The service behind the lane, and the same store behind uvicorn's way alone."""
    lane = Server(settings, HotLaneProtocol)
    plain = Server(settings, LimitedHttpToolsProtocol)
    yield lane, plain
    lane.stop()
    plain.stop()


@pytest.fixture
def key(servers: tuple[Server, Server], root_key: str) -> str:
    headers = {"Authorization": f"Bearer {root_key}"}
    api = httpx.post(f"{servers[0].url}/v1/apis", json={"name": "docs", "key_prefix": "sk_lane"},
                     headers=headers).json()
    issued = httpx.post(f"{servers[0].url}/v1/keys", json={"api_id": api["id"]}, headers=headers)
    assert issued.status_code == 201, issued.text
    return str(issued.json()["key"])


def test_the_lanes_paths_are_the_apps_hot_endpoints(settings):
    assert set(HOT_PATHS) == set(create_app(settings).hot)


def test_the_lane_answers_as_uvicorns_way_does(servers, key, root_key, lanes):
    lane, plain = servers
    for body in (json.dumps({"key": key}).encode(), b'{"key": 7}', b"not json", b""):
        for auth in (root_key, "wrong"):
            [(status, headers, answer)] = lane.exchange(post("/v1/keys/verify", body, auth))
            [(status_b, headers_b, answer_b)] = plain.exchange(post("/v1/keys/verify", body, auth))
            headers.pop("date"), headers_b.pop("date")
            assert (status, headers) == (status_b, headers_b), body
            assert json.loads(answer) == json.loads(answer_b)
    assert lanes == ["/v1/keys/verify"] * 8
    [(status, _, answer)] = lane.exchange(post("/v1/keys/verify", json.dumps({"key": key}).encode(), root_key))
    assert status == 200 and json.loads(answer)["code"] == "VALID"


def test_keep_alive_and_pipelined_requests_are_answered_in_order(servers, key, root_key, lanes):
    lane, _ = servers
    valid = post("/v1/keys/verify", json.dumps({"key": key}).encode(), root_key)
    typo = post("/v1/keys/verify", json.dumps({"key": key[:-1] + "x"}).encode(), root_key)
    health = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    answers = lane.exchange(valid + health + typo + valid, answers=4)
    assert [s for s, _, _ in answers] == [200, 200, 200, 200]
    assert [json.loads(b).get("code") for _, _, b in answers] == ["VALID", None, "MALFORMED", "VALID"]
    assert all("connection" not in h for _, h, _ in answers)  # kept alive
    assert len(lanes) >= 1  # the first at least; a pipelined one may go uvicorn's way


def test_connection_close_is_honoured(servers, key, root_key, lanes):
    lane, _ = servers
    request = post("/v1/keys/verify", json.dumps({"key": key}).encode(), root_key, extra="Connection: close\r\n")
    with socket.create_connection(("127.0.0.1", lane.port), timeout=10) as sock:
        sock.sendall(request)
        with sock.makefile("rb") as reader:
            status, headers, _ = _read_response(reader)
            assert status == 200 and headers["connection"] == "close"
            assert reader.read() == b""  # the server closed the connection
    assert lanes == ["/v1/keys/verify"]


def test_requests_the_lane_does_not_take_are_answered_uvicorns_way(servers, key, root_key, lanes):
    lane, _ = servers
    body = json.dumps({"key": key}).encode()
    chunked = (f"POST /v1/keys/verify HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {root_key}\r\n"
               f"Transfer-Encoding: chunked\r\n\r\n{len(body):x}\r\n").encode() + body + b"\r\n0\r\n\r\n"
    cases = {
        "a query": post("/v1/keys/verify?x=1", body, root_key),
        "a chunked body": chunked,
        "Expect: 100-continue": post("/v1/keys/verify", body, root_key, extra="Expect: 100-continue\r\n"),
    }
    for what, request in cases.items():
        with socket.create_connection(("127.0.0.1", lane.port), timeout=10) as sock:
            sock.sendall(request)
            with sock.makefile("rb") as reader:
                status, _, answer = _read_response(reader)
                if status == 100:
                    status, _, answer = _read_response(reader)
        assert status == 200 and json.loads(answer)["code"] == "VALID", what
    # Over the lane's size, and over the service's body limit (the same 64 KiB by default).
    big = json.dumps({"key": key, "user_agent": "u" * MAX_LANE_BODY}).encode()
    [(status, headers, _)] = lane.exchange(post("/v1/keys/verify", big, root_key))
    assert status == 413 and headers["content-type"] == "application/problem+json"
    [(status, _, _)] = lane.exchange(b"GET /v1/keys/verify HTTP/1.1\r\nHost: t\r\n\r\n")
    assert status == 405
    assert lanes == []


def test_the_token_and_introspection_endpoints_take_the_lane(servers, root_key, lanes):
    lane, _ = servers
    client = httpx.post(f"{lane.url}/v1/clients", headers={"Authorization": f"Bearer {root_key}"}, json={
        "name": "svc", "grant_types": ["client_credentials"], "scopes": ["a"],
        "audiences": ["https://api.example.com"]}).json()
    auth = (client["client_id"], client["client_secret"])
    token = httpx.post(f"{lane.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
    assert token.status_code == 200 and token.headers["cache-control"] == "no-store"
    info = httpx.post(f"{lane.url}/oauth/introspect", data={"token": token.json()["access_token"]}, auth=auth)
    assert info.status_code == 200 and info.json()["active"] is True
    refused = httpx.post(f"{lane.url}/oauth/token", data={"grant_type": "client_credentials"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert lanes == ["/oauth/token", "/oauth/introspect", "/oauth/token"]
