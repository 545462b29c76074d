"""`keyplane serve`'s uvicorn protocol sends a response's head with its body in one write
(http/head_limits.py `OneWriteResponse`; one `write` system call a request instead of two,
as `strace -c` on the server shows), and nothing else changes: a streamed answer's
head goes out before its body exists, `100 Continue` before the request's body, a HEAD
answer and a crashed app's 500 as before. A real uvicorn server in a thread, raw sockets."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
import uvicorn

from keyplane.http.head_limits import LimitedHttpToolsProtocol

release_stream = threading.Event()


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/crash":
        raise RuntimeError("the app failed")
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if path == "/stream":  # no Content-Length: chunked, the head must not wait for the body
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        while not release_stream.is_set():
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"late", "more_body": False})
        return
    answer = b"echo:" + body
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=LimitedHttpToolsProtocol,
                            log_level="critical", lifespan="off")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    for _ in range(500):
        if served.started:
            break
        threading.Event().wait(0.01)
    assert served.started
    yield port
    served.should_exit = True
    thread.join(timeout=10)


def _connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    return conn


def _read_until(conn: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_response_with_a_length_is_whole_and_the_connection_is_kept(server: int) -> None:
    with _connect(server) as conn:
        for n in range(3):  # keep-alive: each answer complete, the next one after it
            body = f"request {n}".encode()
            conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            answer = _read_until(conn, b"echo:" + body)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"content-length: %d\r\n" % (len(body) + 5) in answer
            assert answer.endswith(b"\r\n\r\necho:" + body)


def test_a_streamed_response_sends_its_head_before_its_body_exists(server: int) -> None:
    release_stream.clear()
    with _connect(server) as conn:
        conn.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        head = _read_until(conn, b"\r\n\r\n")  # arrives while the app still holds the body
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"transfer-encoding: chunked" in head
        assert b"late" not in head
        release_stream.set()
        rest = _read_until(conn, b"0\r\n\r\n")
        assert b"4\r\nlate\r\n" in head + rest


def test_100_continue_goes_out_before_the_body_is_sent(server: int) -> None:
    with _connect(server) as conn:
        conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        assert _read_until(conn, b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(b"hi")
        assert _read_until(conn, b"echo:hi").endswith(b"\r\n\r\necho:hi")


def test_a_head_request_is_answered_without_a_body(server: int) -> None:
    with _connect(server) as conn:
        conn.sendall(b"HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        head = _read_until(conn, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
        conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz")  # still open
        assert _read_until(conn, b"echo:z").endswith(b"echo:z")


def test_a_crashed_app_is_a_whole_500(server: int) -> None:
    with _connect(server) as conn:
        conn.sendall(b"GET /crash HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _read_until(conn, b"Internal Server Error")
        assert answer.startswith(b"HTTP/1.1 500 ") and answer.endswith(b"\r\n\r\nInternal Server Error")
