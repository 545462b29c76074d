"""API keys in the verifier: the answer of `/v1/keys/verify` as a Principal, and the short
positive cache in front of it.

What may be cached: a `VALID` answer for a key with no rate limit and no credits (a key with
either must be metered by the service on every request), until the earliest of the cache
TTL and the key's own `expires_at`. What drops it at once: a change of that key or of its
API pushed by the service (sdk/changes.py). When the verifier is not subscribed to the
change stream the cache is empty and stays empty: it is enabled by the stream's `ready`
event, and cleared whenever the stream ends, before it is trusted again.

An answer fetched while a change of the same key arrived is not stored (the answer may
predate the change): `ticket()` before asking, `put(..., ticket)` after.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyplane.sdk.principal import API_KEY, Principal, RateLimitState

RECENT_CHANGES = 4096


def cache_key(key: str, ip: str | None) -> tuple[bytes, str | None]:
    """What entries are found by: never the key itself (a heap dump shows no key)."""
    return hashlib.sha256(key.encode()).digest(), ip


@dataclass(frozen=True, slots=True)
class Ticket:
    epoch: int
    seq: int


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    valid_until: float
    key_id: str
    api_id: str


class KeyCache:
    """Thread-safe: read by request threads without a lock, written under one."""

    def __init__(self, *, ttl_seconds: float, max_entries: int) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[bytes, str | None], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.enabled = False
        self._epoch = 0
        self._seq = 0
        self._recent: deque[tuple[int, str | None, str]] = deque(maxlen=RECENT_CHANGES)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, k: tuple[bytes, str | None], now: float) -> Principal | None:
        entry = self._entries.get(k)
        if entry is None:
            return None
        if now >= entry.valid_until:
            with self._lock:
                self._entries.pop(k, None)
            return None
        return entry.principal

    def ticket(self) -> Ticket:
        return Ticket(self._epoch, self._seq)

    def put(self, k: tuple[bytes, str | None], principal: Principal, *, api_id: str,
            expires_at: float | None, ticket: Ticket, now: float) -> bool:
        """Store unless disabled, or a change of this key (or its API) arrived since
        `ticket`; returns whether it stored."""
        assert principal.key_id is not None
        valid_until = now + self.ttl_seconds
        if expires_at is not None:
            valid_until = min(valid_until, expires_at)
        with self._lock:
            if not self.enabled or ticket.epoch != self._epoch or valid_until <= now:
                return False
            if self._seq != ticket.seq:
                oldest = self._seq - len(self._recent)
                if ticket.seq < oldest:
                    return False  # too many changes since: cannot tell
                for seq, key_id, change_api in self._recent:
                    if seq > ticket.seq and change_api == api_id and key_id in (None, principal.key_id):
                        return False
            self._entries[k] = _Entry(principal, valid_until, principal.key_id, api_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return True

    def invalidate(self, *, api_id: str, key_id: str | None) -> int:
        """Drop the entries of `key_id` (every key of `api_id` when None); returns how many."""
        with self._lock:
            self._seq += 1
            self._recent.append((self._seq, key_id, api_id))
            doomed = [k for k, e in self._entries.items()
                      if e.api_id == api_id and (key_id is None or e.key_id == key_id)]
            for k in doomed:
                del self._entries[k]
            return len(doomed)

    def enable(self) -> None:
        """Subscribed (again): start from nothing."""
        with self._lock:
            self._epoch += 1
            self._entries.clear()
            self.enabled = True

    def reset_after_fork(self) -> None:
        """In a forked child: a new lock (the parent's may be held), nothing cached."""
        self._lock = threading.Lock()
        self.disable()

    def disable(self) -> None:
        """Not subscribed: nothing cached can be trusted, nothing new is stored."""
        with self._lock:
            self._epoch += 1
            self._entries.clear()
            self.enabled = False


def _timestamp(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def ratelimit_states(answer: dict[str, Any]) -> tuple[RateLimitState, ...]:
    states = []
    for item in answer.get("ratelimits") or ():
        try:
            reset_at = datetime.fromisoformat(str(item["reset_at"]))
            window = item.get("window_seconds")
            states.append(RateLimitState(name=str(item["name"]), limit=int(item["limit"]),
                                         remaining=int(item["remaining"]), reset_at=reset_at,
                                         window_seconds=int(window) if window is not None else None))
        except (KeyError, TypeError, ValueError):
            continue
    return tuple(states)


def principal_of(answer: dict[str, Any], states: tuple[RateLimitState, ...]) -> Principal:
    """The Principal of a `VALID` answer of `/v1/keys/verify`."""
    key_id = str(answer.get("key_id"))
    owner_id = answer.get("owner_id")
    metadata = answer.get("metadata")
    return Principal(
        kind=API_KEY, subject=str(owner_id) if owner_id else key_id,
        owner_id=str(owner_id) if owner_id else None, key_id=key_id,
        permissions=frozenset(str(p) for p in answer.get("permissions") or ()),
        metadata=metadata if isinstance(metadata, dict) else {}, ratelimits=states)


def cacheable(answer: dict[str, Any]) -> bool:
    """A VALID answer for a key the service need not meter (no limits, no credits)."""
    return (answer.get("code") == "VALID" and not answer.get("ratelimits")
            and answer.get("credits_remaining") is None)


def expires_at_of(answer: dict[str, Any]) -> float | None:
    return _timestamp(answer.get("expires_at"))
