"""The hot endpoints' requests served the short way through uvicorn: one task, one write.

For each request uvicorn's httptools protocol starts the app as soon as the head is in,
and feeds it the body through `receive` (an `asyncio.Event` the task waits on), then writes
the answer's head and body in two writes, each header checked on the way. Measured on one
pinned core (2026-12-07), a bare ASGI app that reads a small body and answers a fixed JSON
cost ~33 µs of CPU a request that way, and ~19 µs the way this module serves it: for key
verification (~86 µs a request) that is most of the distance to its goal.

`HotLaneProtocol` takes that way only for what is certain to be short: a `POST` of
HTTP/1.1 to one of the hot endpoints' paths (`HOT_PATHS`, exactly: no query), with a
`Content-Length` of at most `MAX_LANE_BODY` and no `Transfer-Encoding`, no `Expect`, no
upgrade, nothing else in progress on the connection. Such a request is still a
`RequestResponseCycle` of uvicorn's (`LaneCycle`), so pipelining, keep-alive, graceful
shutdown, a lost connection and an app that raises are uvicorn's own code as before; only:

- the app starts when the whole body is in, and `receive` hands it over at once;
- the answer is written once it is complete, head and body in one write.

Every other request goes uvicorn's way, unchanged. The app is the same app either way (the
service's `ServiceApp` behind uvicorn's proxy-headers middleware): the same scope, the same
answers, byte for byte but for the `Date`.
"""

from __future__ import annotations

from typing import Any

from uvicorn._types import ASGIReceiveEvent, ASGISendEvent, HTTPResponseStartEvent
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

from keyplane.http.head_limits import LimitedHttpToolsProtocol
from keyplane.http.hot_paths import HOT_PATHS

MAX_LANE_BODY = 64 * 1024  # uvicorn's own high-water mark; a larger body goes its way
_TARGETS = frozenset(path.encode("ascii") for path in HOT_PATHS)


class _NoEvent:
    """What `message_event` is for a lane request: nothing ever waits on it (the body is
    whole before the app starts), and uvicorn only sets it."""

    def set(self) -> None:
        pass


_NO_EVENT: Any = _NoEvent()


class LaneCycle(RequestResponseCycle):
    """A request whose body is whole before its app starts, answered in one write."""

    _start: HTTPResponseStartEvent | None = None
    _chunks: list[bytes] | None = None
    _handed = False

    async def receive(self) -> ASGIReceiveEvent:
        if self.disconnected or self.response_complete or self._handed:
            return {"type": "http.disconnect"}  # the whole body was handed over already
        self._handed = True
        return {"type": "http.request", "body": bytes(self.body), "more_body": False}

    async def send(self, message: ASGISendEvent) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            if message["type"] != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{message['type']}'.")
            self.response_started = True
            self._start = message
            return
        if self.response_complete or message["type"] != "http.response.body":
            raise RuntimeError(f"Unexpected ASGI message '{message['type']}' sent.")
        body = message.get("body", b"")
        if message.get("more_body", False):
            if self._chunks is None:
                self._chunks = []
            self._chunks.append(body)
            return
        if self._chunks:
            body = b"".join((*self._chunks, body))
        self._write(body)

    def _write(self, body: bytes) -> None:
        start = self._start
        assert start is not None
        if self.access_log:  # uvicorn's, when it has one (`keyplane serve` has its own)
            self.access_logger.info('%s - "%s %s HTTP/%s" %d', get_client_addr(self.scope),
                                    self.scope["method"], get_path_with_query_string(self.scope),
                                    self.scope["http_version"], start["status"])
        content = [STATUS_LINE[start["status"]]]
        length = None
        for name, value in (*self.default_headers, *start.get("headers", ())):
            if HEADER_RE.search(name):
                raise RuntimeError("Invalid HTTP header name.")
            if HEADER_VALUE_RE.search(value):
                raise RuntimeError("Invalid HTTP header value.")
            name = name.lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and b"close" in value.lower():
                self.keep_alive = False
            content += (name, b": ", value, b"\r\n")
        if length is None:
            content += (b"content-length: ", str(len(body)).encode(), b"\r\n")
        elif length != len(body):
            raise RuntimeError("Response content length differs from Content-Length")
        if not self.keep_alive:
            content.append(b"connection: close\r\n")
        content += (b"\r\n", body)
        self.transport.write(b"".join(content))
        self.response_complete = True
        if not self.keep_alive:
            self.transport.close()
        self.on_response()


class HotLaneProtocol(LimitedHttpToolsProtocol):
    """`LimitedHttpToolsProtocol` (the head limits), with the hot endpoints' requests
    served as `LaneCycle`s."""

    _in_lane = False

    def on_headers_complete(self) -> None:
        self._end_of_head()
        if not self._fits_lane():
            HttpToolsProtocol.on_headers_complete(self)  # the head is checked: uvicorn's own step
            return
        self._in_lane = True
        target = self.url
        scope = self.scope
        scope["method"] = "POST"
        scope["path"] = target.decode("ascii")
        scope["raw_path"] = target
        scope["query_string"] = b""
        self.cycle = LaneCycle(
            scope=scope, transport=self.transport, flow=self.flow, logger=self.logger,
            access_logger=self.access_logger, access_log=self.access_log,
            default_headers=self.server_state.default_headers, message_event=_NO_EVENT,
            expect_100_continue=False, keep_alive=self.parser.should_keep_alive(),
            on_response=self.on_response_complete)

    def _fits_lane(self) -> bool:
        if (self.url not in _TARGETS or self.parser.get_method() != b"POST"
                or self.parser.get_http_version() != "1.1" or self.expect_100_continue
                or self.parser.should_upgrade() or self.root_path
                or self.limit_concurrency is not None or self.pipeline
                or (self.cycle is not None and not self.cycle.response_complete)):
            return False
        framing = [value for name, value in self.headers
                   if name == b"content-length" or name == b"transfer-encoding"]
        if not framing:
            return True  # no body
        return len(framing) == 1 and framing[0].isdigit() and int(framing[0]) <= MAX_LANE_BODY

    def on_body(self, body: bytes) -> None:
        if self._in_lane:
            self.cycle.body += body
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._in_lane:
            self._in_lane = False
            self._next_head()
            self._start_asgi_task(self.cycle, self.app)
            return
        super().on_message_complete()
