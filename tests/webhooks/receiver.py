"""A real HTTP receiver on 127.0.0.1 for webhook tests: records every request, answers
with the statuses it is told (then 200), and verifies nothing itself (tests verify with
the `standardwebhooks` package)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: list[int] = []  # answered in order, then 200
        self.hold_seconds = 0.0  # wait this long before answering (a slow receiver)
        self._lock = threading.Condition()
        self.url = ""

    def record(self, item: Received) -> int:
        with self._lock:
            self.received.append(item)
            self._lock.notify_all()
            return self.statuses.pop(0) if self.statuses else 200

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[Received]:
        """Every request so far once `predicate(requests)` holds; AssertionError at the deadline."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver: condition not met in {timeout} s; got "
                                         f"{[r.payload.get('type') for r in self.received]}")
                self._lock.wait(left)
            return list(self.received)

    def of_type(self, event_type: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.payload.get("type") == event_type]


@contextmanager
def receiving(port: int = 0) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (on `port`, or a free one)."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = receiver.record(Received(headers={k.lower(): v for k, v in self.headers.items()},
                                              body=body, at=time.monotonic()))
            if receiver.hold_seconds:
                time.sleep(receiver.hold_seconds)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
