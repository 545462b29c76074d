"""PostgreSQL tells this process of every change to what it keeps, so lookups may keep rows.

Every transaction that changes a key's answer, a client, the deny-list or the signing keys
sends `NOTIFY keyplane_key_changes` (the triggers of migrations 0009 and 0010), delivered at
its commit to each connection that listens: a key's id, `api:<id>` for an API's roles,
`client:<id>`, `revocation`, `signing-keys`. One connection of this process listens and
hands each notice to everything that keeps rows in memory (store/keys.py, store/clients.py,
store/tokens.py, oauth/signing_keys.py), which drops what it names. While that connection is
not listening — before it first connects, after it is lost, until it is back — they keep
nothing (the signing keys fall back to their periodic reload): a change made meanwhile would
go unseen. So a lookup is either exact as of the last notice delivered, or read from the
database.

What this leaves: a change committed by another process reaches this one a notice's
delivery later (well under a millisecond on a quiet loopback, more when the event loop is
busy). A change made through this process is dropped at once, before the write answers
(a repository forgets a row it writes; role and API changes arrive through the in-process
key-change hub). A server behind a pooler that cannot LISTEN (PgBouncer in transaction
mode) never caches, and logs why once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import asyncpg

log = logging.getLogger("keyplane")

CHANNEL = "keyplane_key_changes"
RETRY_SECONDS = 1.0
CHECK_SECONDS = 5.0  # a connection lost without a word (a dead peer) is found this late
TIMEOUT_SECONDS = 5.0


class NoticeWatcher(Protocol):
    def notice(self, payload: str) -> None:
        """A change was committed (ignore notices about what this watcher does not keep)."""
        ...

    def set_listening(self, listening: bool) -> None:
        """Whether every change is told now: keep nothing while it is not."""
        ...


class ChangeListener:
    def __init__(self, dsn: str, watchers: Sequence[NoticeWatcher]) -> None:
        self._dsn = dsn
        self._watchers = tuple(watchers)
        self._task: asyncio.Task[None] | None = None
        self.listening = False
        self._listening = asyncio.Event()
        self._warned = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="keyplane-key-changes")

    async def wait_listening(self, seconds: float) -> bool:
        """Whether listening within `seconds` (at start: keys are kept from the first request)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), seconds)
        return self.listening

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self._warned:
                    log.warning("not told of key changes by PostgreSQL (%s): keys are read from "
                                "the database on every verification until it is back", exc)
                    self._warned = True
            await asyncio.sleep(RETRY_SECONDS)

    async def _listen(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(self._dsn, timeout=TIMEOUT_SECONDS)
        lost = asyncio.Event()

        def notice(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            for watcher in self._watchers:
                watcher.notice(payload)

        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, notice)
            self._set(True)
            if self._warned:
                log.warning("told of key changes by PostgreSQL again: keys are kept again")
                self._warned = False
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), CHECK_SECONDS)
                if not lost.is_set():
                    await conn.fetchval("SELECT 1", timeout=TIMEOUT_SECONDS)
            raise ConnectionError("the listening connection was closed")
        finally:
            self._set(False)
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)

    def _set(self, listening: bool) -> None:
        if listening != self.listening:
            self.listening = listening
            if listening:
                self._listening.set()
            else:
                self._listening.clear()
            for watcher in self._watchers:
                watcher.set_listening(listening)
