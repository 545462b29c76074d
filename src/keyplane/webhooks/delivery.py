"""The delivery worker: an asyncio task of each service process that claims due attempts
from the outbox and POSTs them, signed, to their webhooks (Standard Webhooks).

- Per-target concurrency: each webhook with due attempts gets a task of its own, sending
  at most `concurrency` attempts at a time; a slow or dead receiver holds only its own.
- Timeouts: an attempt that gets no answer within `timeout_seconds` failed. Its claim
  lasts twice that, then lapses, so a worker that dies mid-attempt (SIGKILL) leaves the
  attempt to be made again by any worker, itself after a restart included.
- Retries: a non-2xx answer, a timeout or a refused address is retried after
  `base * 2**(attempts-1)` seconds (at most `max_seconds`), a random half to all of it
  (jitter: receivers that failed together do not get their retries together); an attempt
  failing once `retry_for_seconds` have passed since the event marks the delivery failed.
- The guard again at each attempt (webhooks/targets.py): the host is resolved, checked and
  connected to by the checked address, so DNS rebinding reaches no private address.
- No redirects followed: a redirect could lead anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from keyplane import __version__
from keyplane.background import repeat
from keyplane.clock import Clock
from keyplane.webhooks.model import Attempt
from keyplane.webhooks.repository import DeliveryQueue, WebhookRepository
from keyplane.webhooks.secrets import SecretBox, signature_header
from keyplane.webhooks.targets import Target, TargetRefused, resolve

log = logging.getLogger("keyplane.webhooks")

DELIVERED = "delivered"
PENDING = "pending"
FAILED = "failed"
MAX_ERROR_LENGTH = 500
WEBHOOKS_A_ROUND = 100
RETENTION = timedelta(days=30)  # finished deliveries stay in the log this long
PRUNE_EVERY_SECONDS = 3600
PRUNE_FIRST_SECONDS = 60  # not in the middle of starting up


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    timeout_seconds: float = 10.0
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 3600.0
    retry_for_seconds: float = 86_400.0
    poll_seconds: float = 1.0
    concurrency: int = 4
    allow_private: bool = False

    def retry_delay(self, attempts: int, rng: random.Random) -> float:
        """Seconds before the next attempt after `attempts` failed ones."""
        delay = min(self.retry_base_seconds * 2.0 ** min(attempts - 1, 30), self.retry_max_seconds)
        return float(delay * rng.uniform(0.5, 1.0))


class DeliveryWorker:
    def __init__(self, queue: DeliveryQueue, webhooks: WebhookRepository, box: SecretBox,
                 clock: Clock, policy: DeliveryPolicy) -> None:
        self._queue = queue
        self._webhooks = webhooks
        self._box = box
        self._clock = clock
        self._policy = policy
        self._rng = random.Random()
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self.delivered = 0
        self.failed_attempts = 0

    def wake(self) -> None:
        """Look for due attempts now (an event was just stored by this process)."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="keyplane-webhook-delivery")

    def _http(self) -> httpx.AsyncClient:
        """The client of the deliveries, made at the first one: its TLS context (the CA
        bundle read and parsed) costs ~20 ms, a tenth of the service's start, and most
        services have no webhook."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._policy.timeout_seconds, follow_redirects=False,
                headers={"user-agent": f"keyplane-webhooks/{__version__}"},
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=20))
        return self._client

    async def close(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        self._wake.set()
        await self._task
        self._task = None
        # Attempts under way finish: sent, and their outcome written. Cancelled, one could
        # stop in the middle of its store write, and a SQLite connection cancelled there can
        # hang the shutdown for good (seen: aiosqlite's close never answered). Their posts
        # end within the HTTP timeout; one still running after it is cancelled, and its
        # claim lapses for another worker (or the next start) to retry.
        busy = list(self._busy.values())
        if busy:
            _, late = await asyncio.wait(busy, timeout=self._policy.timeout_seconds + 1)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + PRUNE_FIRST_SECONDS

        async def step() -> None:
            nonlocal next_prune
            await self.dispatch()
            if loop.time() >= next_prune:
                next_prune = loop.time() + PRUNE_EVERY_SECONDS
                await self._queue.prune(self._clock.now() - RETENTION)

        await repeat(step, every_seconds=self._policy.poll_seconds, stopping=self._stopping, log=log,
                     failed="webhook dispatch failed; trying again", wake=self._wake)

    async def dispatch(self) -> None:
        """Start a task for each webhook with due attempts that has none running."""
        due = await self._queue.due_webhooks(self._clock.now(), limit=WEBHOOKS_A_ROUND)
        for webhook_id in due:
            if webhook_id not in self._busy:
                task = asyncio.create_task(self._drain(webhook_id), name=f"keyplane-webhook-{webhook_id}")
                self._busy[webhook_id] = task
                task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        for webhook_id, running in list(self._busy.items()):
            if running is task:
                del self._busy[webhook_id]

    async def _drain(self, webhook_id: str) -> None:
        try:
            while not self._stopping.is_set():
                now = self._clock.now()
                until = now + timedelta(seconds=2 * self._policy.timeout_seconds + 1)
                attempts = await self._queue.claim(webhook_id, now, until=until,
                                                   limit=self._policy.concurrency)
                if not attempts:
                    return
                await asyncio.gather(*(self._attempt(a) for a in attempts))
        except Exception:
            log.warning("deliveries of webhook %s failed; their claims lapse and they are retried",
                        webhook_id, exc_info=True)

    async def _attempt(self, attempt: Attempt) -> None:
        status: int | None = None
        error: str | None = None
        try:
            sealed = await self._webhooks.sealed_secrets(attempt.webhook_id)
            if sealed is None:
                return  # deleted meanwhile: its deliveries are gone with it
            now = self._clock.now()
            signing = [self._box.open(attempt.webhook_id, sealed.secret)]
            if sealed.previous is not None and sealed.previous_expires_at is not None \
                    and now < sealed.previous_expires_at:
                signing.append(self._box.open(attempt.webhook_id, sealed.previous))
            target = await resolve(sealed.url, allow_private=self._policy.allow_private)
            status = await self._post(target, attempt, signing, int(now.timestamp()))
            if not 200 <= status < 300:
                error = f"the receiver answered {status}"
        except TargetRefused as exc:
            error = f"refused: {exc}"
        except httpx.TimeoutException:
            error = f"no answer within {self._policy.timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
        await self._finish(attempt, status, error)

    async def _post(self, target: Target, attempt: Attempt, signing: list[str], timestamp: int) -> int:
        body = attempt.body.encode()
        headers = {"content-type": "application/json", "webhook-id": attempt.event_id,
                   "webhook-timestamp": str(timestamp),
                   "webhook-signature": signature_header(signing, attempt.event_id, timestamp, body)}
        url = httpx.URL(target.url)
        extensions = {}
        if target.address is not None:
            # Connect to the address the guard checked; the Host header and TLS (SNI and
            # certificate check) still name the host.
            headers["host"] = url.netloc.decode()
            url = url.copy_with(host=target.address)
            if target.scheme == "https":
                extensions["sni_hostname"] = target.host
        response = await self._http().post(url, content=body, headers=headers, extensions=extensions)
        await response.aclose()
        return response.status_code

    async def _finish(self, attempt: Attempt, status: int | None, error: str | None) -> None:
        now = self._clock.now()
        if error is None:
            self.delivered += 1
            await self._queue.finish(attempt, state=DELIVERED, status=status, error=None,
                                     next_attempt_at=None, at=now)
            return
        self.failed_attempts += 1
        attempts = attempt.attempts + 1
        if (now - attempt.created_at).total_seconds() >= self._policy.retry_for_seconds:
            await self._queue.finish(attempt, state=FAILED, status=status, error=error,
                                     next_attempt_at=None, at=now)
            return
        retry_at: datetime = now + timedelta(seconds=self._policy.retry_delay(attempts, self._rng))
        await self._queue.finish(attempt, state=PENDING, status=status, error=error,
                                 next_attempt_at=retry_at, at=now)
