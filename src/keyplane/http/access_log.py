"""The access log of `keyplane serve`: one JSON line a request, written off the event loop.

The event loop only notes each answer (a tuple appended to a deque, ~1 µs with the send
wrapper that sees the status); a thread turns the notes into JSON lines (msgspec,
`encode_lines`, a batch at a time) and writes them every `FLUSH_SECONDS`. uvicorn's own
access log formats and writes each line through `logging` on the loop: measured on one
pinned core it cost 26–40 % of key verifications (2026-12-07, issue 21). This one cost
~4 % of them then; once verification itself got cheaper (the hot lane, http/hot_lane.py) it
was 12–14 % (2026-12-08, two servers that only verify, paired rounds), over the 5 % that
what `keyplane serve` logs by default may cost: so it is off by default, and
KEYPLANE_ACCESS_LOG=true turns it on (at log levels info and below).

A line: `{"time": "2026-12-07T05:14:00.123Z", "client": "127.0.0.1:50312", "method":
"POST", "path": "/v1/keys/verify", "status": 200, "ms": 0.41, "query": "..."}` — `query`
only when there is one, `ms` from the request's arrival to the start of its answer. Keys
and tokens travel in headers and bodies, never logged; the one credential that comes in a
URL, a device's user code, is redacted (`redact_target`).
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import BinaryIO

import msgspec
from starlette.types import Message, Scope, Send

FLUSH_SECONDS = 0.2

# A device's user code is a short-lived credential (RFC 8628 §5.1) that travels in URLs:
# `/device?user_code=...` (verification_uri_complete), and encoded in `/login?next=...`.
_USER_CODE = re.compile(r"(user_code(?:=|%3D|%253D))(?:(?!&|%26|%2526)[^\s\"])*", re.IGNORECASE)


def redact_target(target: str) -> str:
    """A request target as the access log shows it: the value of `user_code`, at any depth
    of URL encoding, replaced."""
    return _USER_CODE.sub(r"\1[redacted]", target) if "user_code" in target.lower() else target


# (epoch seconds, client, method, path, raw query, status, seconds to the answer's start)
_Note = tuple[float, tuple[str, int] | None, str, str, bytes, int, float]


class AccessLog:
    """Notes from the loop, lines from a thread. `start()` and `close()` bracket its life."""

    def __init__(self, stream: BinaryIO | None = None, *, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer
        self._flush_seconds = flush_seconds
        self._notes: deque[_Note] = deque()  # append and popleft are thread-safe
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._encoder = msgspec.json.Encoder()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="keyplane-access-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()

    def wrap(self, scope: Scope, send: Send) -> Send:
        """`send`, noting the request when its answer starts."""
        arrived = time.perf_counter()
        notes = self._notes

        async def noting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                notes.append((time.time(), scope.get("client"), scope["method"], scope["path"],
                              scope["query_string"], message["status"],
                              time.perf_counter() - arrived))
            await send(message)

        return noting_send

    def flush(self) -> None:
        notes = self._notes
        if not notes:
            return
        batch = []
        second, prefix = -1, ""
        while notes:
            at, client, method, path, query, status, seconds = notes.popleft()
            if int(at) != second:  # the date and time to the second, once a second
                second = int(at)
                prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            batch.append(_Line(
                f"{prefix}.{int((at - second) * 1000):03d}Z",
                f"{client[0]}:{client[1]}" if client else None, method, path, status,
                round(seconds * 1000, 3),
                redact_target(query.decode("latin-1")) if query else None))
        try:
            self._stream.write(self._encoder.encode_lines(batch))
            self._stream.flush()
        except (OSError, ValueError):  # stdout closed or gone: the service goes on
            pass

    def _run(self) -> None:
        while not self._stopping.wait(self._flush_seconds):
            self.flush()


class _Line(msgspec.Struct, omit_defaults=True):
    time: str
    client: str | None
    method: str
    path: str
    status: int
    ms: float
    query: str | None = None  # omitted when there is none
