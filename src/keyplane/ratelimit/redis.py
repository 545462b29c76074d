"""The Redis limiter: exact across any number of replicas, one round trip a verification.

All buckets of a verification are spent by one Lua script (atomic in Redis), called with
EVALSHA directly — redis-py's `Script` helper would add a `SCRIPT EXISTS` round trip.
Keys carry the API id as a hash tag, so every bucket of one call lives in one cluster slot.

For a plain `redis://` URL the EVALSHA goes through `_Pipeline`: one connection, commands
pipelined (Redis answers in order, so each caller waits on a future in a FIFO), RESP
written and read here, and the commands of one turn of the event loop sent in one write.
Through redis-py's asyncio client (pool checkout with its health check, command packing,
observability hooks) a spend cost 63 µs of CPU at 32 concurrent verifications, half a
metered verification; 13.5 µs this way (measured 2026-11-24). Same script, arguments,
timeouts (0.5 s to connect, 0.5 s for an answer) and failure mode (`LimiterUnavailable`).
Other URLs (`rediss://`, `unix://`, query options) and everything off the hot path use
redis-py.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from importlib.resources import files
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import parse_url
from redis.exceptions import NoScriptError, RedisError

from keyplane.ratelimit.base import (
    EPOCH,
    Bucket,
    LimiterUnavailable,
    Outcome,
    decide_all,
    state,
    to_units,
)

_SCRIPT = (files("keyplane.ratelimit") / "gcra.lua").read_text()
_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()  # what SCRIPT LOAD answers
TIMEOUT_SECONDS = 0.5


class RedisLimiter:
    def __init__(self, client: aioredis.Redis, *, prefix: str = "kp:rl:",
                 pipeline: _Pipeline | None = None) -> None:
        self._redis = client
        self._prefix = prefix
        self._sha: str | None = None
        self._pipeline = pipeline

    @classmethod
    def from_url(cls, url: str, *, prefix: str = "kp:rl:") -> RedisLimiter:
        # A blocking pool: a burst of verifications waits briefly for a connection instead of
        # failing; the timeouts bound how long a dead Redis can hold a verification.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=64, timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS)
        return cls(aioredis.Redis(connection_pool=pool), prefix=prefix,
                   pipeline=_Pipeline.for_url(url))

    def immediate(self) -> None:
        return None  # every spend is a round trip

    async def spend(self, buckets: Sequence[Bucket], cost: int, now: datetime) -> Outcome:
        """Raises LimiterUnavailable when Redis does not answer."""
        moment = now.timestamp()
        keys = [self._prefix + b.key for b in buckets]
        args: list[str | int] = [repr(moment - EPOCH), cost]
        for b in buckets:
            args += [b.limit, b.window_seconds]
        try:
            reply = await self._evalsha(keys, args)
        except RedisError as exc:
            raise LimiterUnavailable(str(exc)) from exc
        allowed = int(reply[0]) == 1
        tats = [float(t) for t in reply[1:]]
        if allowed:
            states = tuple(state(b, t, to_units(b, moment), exceeded=False)
                           for b, t in zip(buckets, tats, strict=True))
        else:
            # Nothing was spent; recompute which bucket refused from the tats Redis holds.
            _, _, states = decide_all(tats, buckets, cost, moment)
        return Outcome(allowed=allowed, states=states)

    async def _evalsha(self, keys: list[str], args: list[str | int]) -> list[bytes]:
        if self._pipeline is not None:
            return await self._pipeline.evalsha(keys, args)
        if self._sha is None:
            self._sha = await self._redis.script_load(_SCRIPT)
        try:
            return await self._redis.evalsha(self._sha, len(keys), *keys, *args)  # type: ignore[no-any-return]
        except NoScriptError:  # Redis restarted or flushed its scripts
            self._sha = await self._redis.script_load(_SCRIPT)
            return await self._redis.evalsha(self._sha, len(keys), *keys, *args)  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
        await self._redis.aclose(close_connection_pool=True)


class _ReplyError(RedisError):
    """An error reply (`-ERR ...`, `-NOSCRIPT ...`)."""


class _Incomplete(Exception):
    pass


def _command(*args: bytes | str | int) -> bytes:
    """A command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _parse(buf: bytes, pos: int) -> tuple[Any, int]:
    """One RESP2 reply at `pos`: (value, where the next starts); _Incomplete if cut short."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, line, pos = buf[pos], buf[pos + 1:end], end + 2
    if kind == 0x24:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            raise _Incomplete
        return buf[pos:pos + size], pos + size + 2
    if kind == 0x3A:  # : integer
        return int(line), pos
    if kind == 0x2A:  # * array
        size = int(line)
        items = []
        for _ in range(max(size, 0)):
            item, pos = _parse(buf, pos)
            items.append(item)
        return (items if size >= 0 else None), pos
    if kind == 0x2B:  # + simple string
        return line, pos
    if kind == 0x2D:  # - error
        return _ReplyError(line.decode(errors="replace")), pos
    raise ValueError(f"not a RESP reply: {buf[pos - 2 - len(line) - 1:end]!r}")


class _Connection(asyncio.Protocol):
    """One pipelined connection: a future per command sent, resolved in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self._buffer = b""
        self._outgoing: list[bytes] = []
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self._buffer + data if self._buffer else data
        pos = 0
        try:
            while pos < len(buf):
                value, pos = _parse(buf, pos)
                future = self.waiting.popleft()
                if not future.done():  # else its caller timed out or was cancelled
                    if isinstance(value, _ReplyError):
                        future.set_exception(value)
                    else:
                        future.set_result(value)
        except _Incomplete:
            pass
        except (ValueError, IndexError):  # not Redis, or out of step: start afresh
            self._buffer = b""
            self.abort()
            return
        self._buffer = buf[pos:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"connection to Redis lost: {exc}"))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # connection_lost follows, failing what waits

    def send(self, payload: bytes) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.waiting.append(future)
        # Commands sent in one turn of the loop go out in one write (one syscall).
        if not self._outgoing:
            loop.call_soon(self._write)
        self._outgoing.append(payload)
        return future

    def _write(self) -> None:
        payload = b"".join(self._outgoing) if len(self._outgoing) > 1 else self._outgoing[0]
        self._outgoing.clear()
        if not self.lost:
            self.transport.write(payload)  # type: ignore[union-attr]


class _Pipeline:
    """EVALSHA of the limiter's script over one pipelined connection (plain TCP)."""

    def __init__(self, host: str, port: int, *, db: int = 0, username: str | None = None,
                 password: str | None = None) -> None:
        self._address = (host, port)
        self._handshake = []
        if password is not None:
            self._handshake.append(_command("AUTH", *([username] if username else []), password))
        if db:
            self._handshake.append(_command("SELECT", db))
        self._connection: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._evalsha_prefix = b"EVALSHA", _SCRIPT_SHA.encode()

    @classmethod
    def for_url(cls, url: str) -> _Pipeline | None:
        """For `redis://[[user]:password@]host[:port][/db]`; None for anything else."""
        options = parse_url(url)
        if not url.startswith("redis://") or set(options) - {"host", "port", "db", "username", "password"}:
            return None
        return cls(options.get("host") or "localhost", int(options.get("port") or 6379),
                   db=int(options.get("db") or 0), username=options.get("username"),
                   password=options.get("password"))

    async def evalsha(self, keys: list[str], args: list[str | int]) -> list[bytes]:
        """The script's reply; raises RedisError (or OSError, TimeoutError) when Redis does
        not answer properly, as redis-py would."""
        payload = _command(*self._evalsha_prefix, len(keys), *keys, *args)
        try:
            try:
                return await self._call(payload)  # type: ignore[no-any-return]
            except _ReplyError as exc:
                if not str(exc).startswith("NOSCRIPT"):  # Redis restarted or flushed its scripts
                    raise
            await self._call(_command("SCRIPT", "LOAD", _SCRIPT))
            return await self._call(payload)  # type: ignore[no-any-return]
        except RedisError:
            raise
        except (OSError, TimeoutError, EOFError) as exc:
            raise RedisError(f"Redis at {self._address[0]}:{self._address[1]}: {exc!r}") from exc

    async def _call(self, payload: bytes) -> Any:
        connection = self._connection
        if connection is None or connection.lost or connection.transport.is_closing():  # type: ignore[union-attr]
            connection = await self._connect()
        future = connection.send(payload)
        timer = asyncio.get_running_loop().call_later(TIMEOUT_SECONDS, _expire, future, connection)
        try:
            return await future
        finally:
            timer.cancel()

    async def _connect(self) -> _Connection:
        # Callers that find no connection share one attempt.
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
            self._connecting.add_done_callback(self._connected)
        return await asyncio.shield(self._connecting)

    def _connected(self, attempt: asyncio.Future[_Connection]) -> None:
        self._connecting = None
        if not attempt.cancelled() and attempt.exception() is None:
            self._connection = attempt.result()

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(TIMEOUT_SECONDS):
            _, connection = await loop.create_connection(_Connection, *self._address)
            try:
                for reply in await asyncio.gather(*(connection.send(c) for c in self._handshake)):
                    if isinstance(reply, Exception):
                        raise reply
            except BaseException:
                connection.abort()
                raise
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.abort()
            self._connection = None


def _expire(future: asyncio.Future[Any], connection: _Connection) -> None:
    if not future.done():
        future.set_exception(TimeoutError(f"no answer from Redis in {TIMEOUT_SECONDS} s"))
        connection.abort()  # what follows on this connection would come late too
