"""The verifier's work on its background loop (sdk/engine.py): the HTTP client to keyplane,
the change stream, the revocation feed poller, JWKS fetches and refreshes — or, in
embedded mode with `settings=`, the store opened beside the service.

The change stream pushes what polling would find later: a signing-key rotation fetches the
JWKS at once, a new deny-list entry reads the feed at once (within a round trip of the
write); the periodic poll and refresh remain for when the stream is down.

Fetches and polls are single-flight (one at a time; whoever waited uses the result), so a
burst of requests needing the JWKS or a fresh feed causes one request to keyplane.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from keyplane.sdk.changes import follow_changes
from keyplane.sdk.errors import ServiceRejected
from keyplane.sdk.jwks import JwksCache
from keyplane.sdk.keys import KeyCache
from keyplane.sdk.remote import Remote, ServiceUnavailable
from keyplane.sdk.revocations import PAGE_LIMIT, RevocationList

if TYPE_CHECKING:
    import httpx

    from keyplane.config import Settings
    from keyplane.services import Services

log = logging.getLogger("keyplane.sdk")


class Background:
    def __init__(self, *, url: str, issuer: str | None, root_key: str | None, timeout_seconds: float,
                 transport: httpx.AsyncBaseTransport | None, api_id: str | None,
                 audience: str | None, follow_revocations: bool, settings: Settings | None,
                 jwks: JwksCache, revocations: RevocationList, keys: KeyCache,
                 now: Callable[[], float]) -> None:
        self._url = url
        self._issuer = issuer
        self._root_key = root_key
        self._timeout = timeout_seconds
        self._transport = transport
        self._api_id = api_id
        self._audience = audience
        self._follow_revocations = follow_revocations
        self._settings = settings
        self.jwks = jwks
        self.revocations = revocations
        self.keys = keys
        self._now = now
        self.remote: Remote | None = None
        self.services: Services | None = None  # opened from `settings`
        self._tasks: list[asyncio.Task[None]] = []
        self._pushed: set[asyncio.Task[None]] = set()  # fetches the change stream asked for
        self._scheduled: set[str] = set()  # ... and those not started yet
        self._jwks_lock: asyncio.Lock | None = None
        self._poll_lock: asyncio.Lock | None = None

    async def start(self) -> None:
        self._jwks_lock, self._poll_lock = asyncio.Lock(), asyncio.Lock()
        if self._settings is not None:
            from keyplane.services import open_services

            self.services = await open_services(self._settings, migrate_schema=False)
            self.services.start()
            return
        self.remote = Remote(self._url, issuer=self._issuer, root_key=self._root_key,
                             timeout_seconds=self._timeout, transport=self._transport)
        loop = asyncio.get_running_loop()
        # Keys (keys.verify) or tokens with the revocation feed (tokens.read): either root
        # key may follow the stream.
        if self._root_key is not None and (self._api_id is not None or (
                self._follow_revocations and self._audience is not None)):
            self._tasks.append(loop.create_task(follow_changes(
                self.remote, self.keys, api_id=self._api_id, on_signing_keys=self._signing_keys_changed,
                on_revocations=self._revocations_changed)))
        if self._follow_revocations and self._audience is not None:
            self._tasks.append(loop.create_task(self._poll_revocations()))
        if self._audience is not None:
            self._tasks.append(loop.create_task(self._refresh_jwks_periodically()))

    async def stop(self) -> None:
        for task in self._pushed:
            task.cancel()
        self._pushed.clear()
        self._scheduled.clear()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        self.keys.disable()
        if self.remote is not None:
            await self.remote.aclose()
            self.remote = None
        if self.services is not None:
            await self.services.close()
            self.services = None

    def forked(self) -> None:
        """In a child process: the parent's loop, client and tasks do not exist here."""
        self._tasks = []
        self._pushed = set()
        self._scheduled = set()
        self.remote = None
        self.services = None
        self.keys.reset_after_fork()

    async def refresh_jwks(self, *, only_if_older_than: float | None) -> None:
        """Fetch the JWKS unless it was fetched meanwhile (None: unless loaded at all)."""
        assert self.remote is not None and self._jwks_lock is not None
        async with self._jwks_lock:
            if only_if_older_than is None and self.jwks.loaded:
                return
            if only_if_older_than is not None and self.jwks.fetched_at >= only_if_older_than:
                return
            self.jwks.install(await self.remote.jwks(), self._now())

    async def poll(self, *, unless_fresh: bool) -> None:
        """Read the revocation feed to its end (unless a poll just made it fresh)."""
        assert self.remote is not None and self._poll_lock is not None
        async with self._poll_lock:
            if unless_fresh and self.revocations.polls and self.revocations.fresh(self._now()):
                return
            started = self._now()
            items: list[Any] = []
            cursor = None
            since = self.revocations.since()
            server_started = None
            while True:
                page, server_time = await self.remote.revocations(since=since, cursor=cursor,
                                                                  limit=PAGE_LIMIT)
                if server_started is None and server_time is not None:
                    server_started = server_time - 1  # `Date` has whole seconds
                items.extend(page["items"])
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            self.revocations.apply(items, started_at=started, now=self._now(),
                                   server_started_at=server_started)

    def _signing_keys_changed(self) -> None:
        if self._audience is not None:
            self._push(lambda: self.refresh_jwks(only_if_older_than=math.inf), "JWKS fetch")

    def _revocations_changed(self) -> None:
        if self._follow_revocations and self._audience is not None:
            self._push(lambda: self.poll(unless_fresh=False), "revocation feed poll")

    def _push(self, work: Callable[[], Coroutine[Any, Any, None]], what: str) -> None:
        """Run `work` beside the stream (which keeps reading); a failure is logged, and the
        periodic poll or refresh tries again. A burst of changes (a refresh-token family
        deny-listed token by token) causes one run, not one each: a change that comes
        before a scheduled run has started is covered by it."""
        if what in self._scheduled:
            return
        self._scheduled.add(what)

        async def run() -> None:
            self._scheduled.discard(what)  # from here on, a new change needs a new run
            try:
                await work()
            except ServiceUnavailable as exc:
                log.warning("%s after a pushed change failed: %s", what, exc)
            except ServiceRejected:
                pass  # logged with keyplane's problem detail (sdk/remote.py)

        task = asyncio.get_running_loop().create_task(run())
        self._pushed.add(task)
        task.add_done_callback(self._pushed.discard)

    async def _poll_revocations(self) -> None:
        while True:
            try:
                await self.poll(unless_fresh=False)
            except ServiceUnavailable as exc:
                log.warning("revocation feed poll failed: %s", exc)
            except ServiceRejected:
                pass  # logged with keyplane's problem detail (sdk/remote.py); tried again
            await asyncio.sleep(self.revocations.poll_seconds)

    async def _refresh_jwks_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.jwks.max_age_seconds)
            try:
                await self.refresh_jwks(only_if_older_than=self._now() - self.jwks.max_age_seconds / 2)
            except ServiceUnavailable as exc:
                log.warning("JWKS refresh failed (the cached keys stay in use): %s", exc)
            except ServiceRejected:
                pass  # logged with keyplane's problem detail (sdk/remote.py)

    async def ready(self, timeout: float) -> bool:
        """Wait until keys can be cached and JWTs checked; False after `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._audience is not None and not self.jwks.loaded and self.remote is not None:
                try:
                    await self.refresh_jwks(only_if_older_than=None)
                except (ServiceUnavailable, ServiceRejected):
                    pass
            keys_ready = self._api_id is None or self._root_key is None or self.keys.enabled
            feed_ready = (not self._follow_revocations or self._audience is None
                          or self.revocations.polls > 0)
            jwks_ready = self._audience is None or self.jwks.loaded or self.remote is None
            if keys_ready and feed_ready and jwks_ready:
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
