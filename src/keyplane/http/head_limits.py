"""Limits on a request's head (request line and header fields), enforced by the server.

An ASGI app sees a request only once the server has buffered all of its head, so a limit
there comes too late: a 50 MB header would already be in memory. `keyplane serve` sets the
limits in the server itself, for either server it runs:

- uvicorn: `LimitedHttpToolsProtocol`, its httptools protocol counting the head as it
  arrives (httptools buffers a header field whole before handing it on);
- granian: hyper's read buffer (`HTTP1Settings.max_buffer_size`), which answers 431 itself.

Past a limit the answer is 431 Request Header Fields Too Large (RFC 6585 §5) and the
connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEADER_LINE_BYTES = 16 * 1024
"""A header field (name and value), or the request line."""
MAX_HEAD_BYTES = 64 * 1024
"""The request line and every header field together."""

_MESSAGE = b"Request header fields too large"
_RESPONSE_431 = (b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                 b"content-type: text/plain; charset=utf-8\r\n"
                 b"content-length: " + str(len(_MESSAGE)).encode() + b"\r\n"
                 b"connection: close\r\n\r\n" + _MESSAGE)


class HeadTooLarge(Exception):
    """Raised in a parser callback: httptools stops parsing, and the 431 goes out."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `MAX_HEADER_LINE_BYTES` and `MAX_HEAD_BYTES`.

    Two checks: the bytes received while a head is still incomplete, counted after each
    read, so a head that never ends is cut off after `MAX_HEAD_BYTES` plus at most one read
    instead of growing inside the parser (this bounds the memory); and, once a head is
    complete, its exact size (request target, each field as `name: value` CRLF as uvicorn
    keeps it) and its longest field. The exact count is needed only when the reads that
    brought the head hold more than `MAX_HEADER_LINE_BYTES`: a head that came in fewer
    bytes is within both limits. Counting field by field in httptools' callbacks cost two
    Python calls a field on every request (2026-12-07).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._unfinished_bytes = 0  # received while the head was incomplete after a read
        self._read_bytes = 0  # the size of the read being parsed
        self._head_too_large = False

    def data_received(self, data: bytes) -> None:
        if self._head_too_large or self.transport.is_closing():
            return
        self._read_bytes = len(data)
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._unfinished_bytes += len(data)
            if self._unfinished_bytes > MAX_HEAD_BYTES:
                self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._unfinished_bytes = 0

    def on_headers_complete(self) -> None:
        self._end_of_head()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._next_head()

    def _end_of_head(self) -> None:
        """The head is complete: checked against the limits (HeadTooLarge), and counted no more."""
        if self._unfinished_bytes + self._read_bytes > MAX_HEADER_LINE_BYTES:
            self._check_head()
        self._in_head = False
        self._unfinished_bytes = 0

    def _next_head(self) -> None:
        """A message ended: whatever comes next on this connection is a new head. The read
        being parsed held the message that ended, so it is not counted as head when the
        parser is done with it (a request with a large body, whole in one read, was refused
        as a 431); the next head's share of it goes uncounted, one read more in the bound."""
        self._in_head = True
        self._unfinished_bytes = -self._read_bytes

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers any error of the parser, a callback's raise included, with 400;
        # ours says which limit it was.
        if self._head_too_large:
            self._refuse()
        else:
            super().send_400_response(msg)

    def _check_head(self) -> None:
        """Raises HeadTooLarge (httptools stops, the 431 goes out) past either limit."""
        head = longest = len(self.url)
        for name, value in self.headers:
            line = len(name) + len(value) + 4  # ": " and CRLF
            head += line
            longest = max(longest, line)
        if longest > MAX_HEADER_LINE_BYTES or head > MAX_HEAD_BYTES:
            self._head_too_large = True
            raise HeadTooLarge

    def _refuse(self) -> None:
        self._head_too_large = True
        transport: asyncio.Transport = self.transport
        if not transport.is_closing():
            transport.write(_RESPONSE_431)
            transport.close()
