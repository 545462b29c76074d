"""`keyplane serve` bounds a request's head before the app sees it, on either server:
431 past the limit, and the service keeps answering others."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from live.serving import Served, start

from keyplane.http.head_limits import MAX_HEAD_BYTES, MAX_HEADER_LINE_BYTES


@pytest.fixture(params=["uvicorn", "granian"])
def served(request: pytest.FixtureRequest, tmp_path) -> Iterator[Served]:
    server = start(tmp_path, args=("--server", request.param))
    yield server
    server.stop()


def send_head(served: Served, headers: list[tuple[str, str]], *, chunk: int = 64 * 1024) -> str:
    """The status line answered to a GET /healthz with `headers` ("" when the server
    closed the connection without one)."""
    host, port = served.url.removeprefix("http://").split(":")
    head = "GET /healthz HTTP/1.1\r\nHost: t\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    data = head.encode("latin-1")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        try:
            for start_at in range(0, len(data), chunk):
                sock.sendall(data[start_at:start_at + chunk])
        except OSError:
            pass  # closed on us mid-head: what follows tells whether a 431 came first
        answer = b""
        try:
            while b"\r\n" not in answer:
                piece = sock.recv(4096)
                if not piece:
                    break
                answer += piece
        except OSError:
            pass
    return answer.split(b"\r\n", 1)[0].decode("latin-1")


def test_a_head_over_the_limit_is_431_and_a_normal_one_passes(served):
    assert send_head(served, [("X-Fine", "a" * 8000)]).startswith("HTTP/1.1 200")
    # granian's buffer (hyper's) may hold one read more than the limit before it refuses.
    assert send_head(served, lines(3 * MAX_HEAD_BYTES)).startswith("HTTP/1.1 431")
    assert httpx.get(f"{served.url}/healthz").status_code == 200


def test_a_huge_header_is_refused_without_reading_it_all(served):
    started = time.monotonic()
    status = send_head(served, [("X-Huge", "c" * (20 * 1024 * 1024))])
    assert status == "" or status.startswith("HTTP/1.1 431"), status
    assert time.monotonic() - started < 10
    assert httpx.get(f"{served.url}/healthz", timeout=5).status_code == 200


def lines(total: int) -> list[tuple[str, str]]:
    """Header fields under the line limit, `total` bytes or a little more in all."""
    size = MAX_HEADER_LINE_BYTES - 100
    return [(f"X-Part-{i}", "b" * size) for i in range(total // size + 1)]


def test_uvicorn_holds_a_head_to_64_kib_and_a_field_to_16_kib_exactly(tmp_path):
    served = start(tmp_path, args=("--server", "uvicorn"))
    try:
        assert send_head(served, lines(MAX_HEAD_BYTES - 2 * MAX_HEADER_LINE_BYTES)).startswith("HTTP/1.1 200")
        assert send_head(served, lines(MAX_HEAD_BYTES)).startswith("HTTP/1.1 431")
        assert send_head(served, [("X-Long", "d" * (MAX_HEADER_LINE_BYTES + 1))]).startswith("HTTP/1.1 431")
        assert send_head(served, [("X-Long", "d" * (MAX_HEADER_LINE_BYTES - 100))]).startswith("HTTP/1.1 200")
        assert httpx.get(f"{served.url}/healthz").status_code == 200
    finally:
        served.stop()
