"""Changes pushed to whoever caches verifications: the verifier SDK's positive key cache,
its JWKS and its copy of the JWT deny-list.

Every committed write that changes what verifying a key answers — update, revoke, roll,
delete, expose, a role's permissions, an API deleted — publishes a `KeyChange` after its
transaction commits. A new signing key (any rotation: scheduled, manual, immediate, the
first key) and a new deny-list entry (a JWT revoked, a client deleted, a refresh-token
family ended) publish a `TokenChange`, which says what to fetch again: a verifier then
reads the JWKS or the revocation feed at once instead of at its next poll. `KeyChangeHub` fans it out in process to each `Subscription` (the
`GET /v1/keys/changes` streams); with `KEYPLANE_REDIS_URL` a `RedisKeyChangeRelay`
(keys/change_relay.py) carries it to the other replicas.

A subscriber that cannot be told everything is told nothing more: a subscription whose
queue overflows, or every subscription when the cross-replica relay loses Redis, is closed,
and a closed subscription means "drop everything you cached". Publishing is bounded in time
and never fails the write that published it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

QUEUE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class KeyChange:
    """One change: `key_id` changed in `api_id`; `key_id` None means every key of `api_id`
    (a role changed, the API was deleted). `action` is the audit action that caused it."""

    api_id: str
    key_id: str | None
    action: str

    def to_wire(self) -> dict[str, Any]:
        return {"api_id": self.api_id, "key_id": self.key_id, "action": self.action}

    @classmethod
    def from_wire(cls, data: Any) -> KeyChange | None:
        """None for anything that is not a change as `to_wire` writes it."""
        if not isinstance(data, dict):
            return None
        api_id, key_id, action = data.get("api_id"), data.get("key_id"), data.get("action")
        if (not isinstance(api_id, str) or not isinstance(action, str)
                or not (key_id is None or isinstance(key_id, str))):
            return None
        return cls(api_id=api_id, key_id=key_id, action=action)


class KeyChangePublisher(Protocol):
    async def publish(self, change: Change) -> None:
        """Tell every subscriber; bounded in time, never raises."""
        ...


SIGNING_KEYS = "signing-keys"
REVOCATIONS = "revocations"


@dataclass(frozen=True, slots=True)
class TokenChange:
    """What token verifiers must fetch again: `what` is `SIGNING_KEYS` (the JWKS changed)
    or `REVOCATIONS` (the deny-list grew); `action` is the audit action that caused it."""

    what: str
    action: str

    def to_wire(self) -> dict[str, Any]:
        return {"action": self.action}

    @classmethod
    def from_relay(cls, data: Any) -> TokenChange | None:
        """None for anything but `{"kind": SIGNING_KEYS | REVOCATIONS, "action"}`."""
        if not isinstance(data, dict):
            return None
        what, action = data.get("kind"), data.get("action")
        if what not in (SIGNING_KEYS, REVOCATIONS) or not isinstance(action, str):
            return None
        return cls(what=what, action=action)


Change = KeyChange | TokenChange


_CLOSED = object()


class Subscription:
    """What one stream receives: key changes (of one API, or all) when `keys`, token
    changes when `tokens`; then the end."""

    def __init__(self, hub: KeyChangeHub, api_id: str | None, *, keys: bool = True,
                 tokens: bool = True) -> None:
        self._hub = hub
        self.api_id = api_id
        self.keys = keys
        self.tokens = tokens
        self._queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_SIZE + 1)
        self.closed = False
        self.reason = ""

    def deliver(self, change: Change) -> None:
        if self.closed:
            return
        if isinstance(change, TokenChange):
            if not self.tokens:
                return
        elif not self.keys or (self.api_id is not None and change.api_id != self.api_id):
            return
        if self._queue.qsize() >= QUEUE_SIZE:
            self.close("the subscriber fell behind")
            return
        self._queue.put_nowait(change)

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.reason = reason
            self._queue.put_nowait(_CLOSED)  # the spare slot: never full for this
            self._hub.discard(self)

    async def next(self) -> Change | None:
        """The next change, or None once the subscription is closed."""
        item = await self._queue.get()
        return None if item is _CLOSED else item  # type: ignore[return-value]


class KeyChangeHub:
    """In-process fan-out of key changes; also a `KeyChangePublisher`.

    `live` is False while a cross-replica relay is configured but not subscribed: then a
    subscriber could miss another replica's change, so no new subscription is accepted.
    """

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._watchers: list[Callable[[KeyChange], None]] = []
        self._token_watchers: list[Callable[[TokenChange], None]] = []
        self._relaying: set[asyncio.Task[None]] = set()
        self.live = True
        self.stopping = False
        self._relay: KeyChangePublisher | None = None

    def watch(self, watcher: Callable[[KeyChange], None]) -> None:
        """Call `watcher` with every change, as it is delivered (before a local write
        answers): the key lookup's own cache, which must not wait for a queue."""
        self._watchers.append(watcher)

    def watch_tokens(self, watcher: Callable[[TokenChange], None]) -> None:
        """Call `watcher` with every token change, before the streams get it: the signing
        keys this process serves in its JWKS must be read afresh before a verifier asks."""
        self._token_watchers.append(watcher)

    def attach_relay(self, relay: KeyChangePublisher) -> None:
        self._relay = relay
        self.live = False  # until the relay says it is subscribed

    def subscribe(self, api_id: str | None = None, *, keys: bool = True,
                  tokens: bool = True) -> Subscription:
        subscription = Subscription(self, api_id, keys=keys, tokens=tokens)
        self._subscriptions.add(subscription)
        return subscription

    def discard(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    async def publish(self, change: Change) -> None:
        """A local write: tell local subscribers at once, then the other replicas (awaited,
        so the write answers only once Redis has the change, within the relay's timeout)."""
        self.deliver(change)
        if self._relay is not None:
            await self._relay.publish(change)

    def announce(self, change: Change) -> None:
        """`publish` from code that cannot wait (a repository's callback after its commit):
        local subscribers at once, the other replicas as soon as the loop turns."""
        self.deliver(change)
        if self._relay is not None:
            task = asyncio.get_running_loop().create_task(self._relay.publish(change))
            self._relaying.add(task)
            task.add_done_callback(self._relaying.discard)

    def deliver(self, change: Change) -> None:
        """Fan `change` out to this process's subscribers (the relay calls this too)."""
        if isinstance(change, TokenChange):
            for token_watcher in self._token_watchers:
                token_watcher(change)
        else:
            for watcher in self._watchers:
                watcher(change)
        for subscription in list(self._subscriptions):
            subscription.deliver(change)

    def set_live(self, live: bool, reason: str = "") -> None:
        """The relay's state; losing it closes every subscription (they may have missed
        changes of other replicas, so their caches must go)."""
        self.live = live
        if not live:
            self.close_all(reason or "the change relay lost its subscription")

    def stop(self) -> None:
        """The service is stopping: end every stream now and refuse new ones. A server that
        drains requests before the app shuts down (granian) would otherwise wait on them."""
        self.stopping = True
        self.close_all("the service is stopping")

    def close_all(self, reason: str) -> None:
        for subscription in list(self._subscriptions):
            subscription.close(reason)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)
