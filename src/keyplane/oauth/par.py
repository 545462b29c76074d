"""Pushed authorization requests (RFC 9126).

A client authenticates at the PAR endpoint as at the token endpoint and pushes its
authorization request there; the request is checked as the authorization endpoint would,
stored, and named by a `request_uri` (`urn:ietf:params:oauth:request_uri:<random>`, stored
only as a keyed hash). The client then sends the user to the authorization endpoint with
just `client_id` and `request_uri`.

A `request_uri` must be used within `EXPIRES_IN_SECONDS` (60 s); once used, the browser may
come back to it (a reload, the login page, the consent form) for `FLOW_SECONDS`, and it
yields one authorization code at most: it is consumed when the code is issued.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from keyplane.clock import Clock
from keyplane.credentials.hashing import KeyHasher

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
EXPIRES_IN_SECONDS = 60
FLOW_SECONDS = 600  # from the first use: long enough to log in and consent
MAX_REQUEST_URI_LENGTH = 200

Pairs = list[tuple[str, str]]


class PushedRequestRepository(Protocol):
    async def insert(self, request_hash: bytes, client_id: str, params: Pairs,
                     expires_at: datetime) -> None: ...

    async def start(self, request_hash: bytes, client_id: str, now: datetime,
                    flow_expires_at: datetime) -> Pairs | None:
        """The parameters of an unexpired request of `client_id`; a first use moves its
        expiry to `flow_expires_at`. None when unknown, another client's, or expired."""
        ...

    async def consume(self, request_hash: bytes, now: datetime) -> bool:
        """Deletes the request; False when it was gone or expired already."""
        ...

    async def prune(self, now: datetime) -> int: ...


class PushedRequests:
    def __init__(self, repository: PushedRequestRepository, hasher: KeyHasher, clock: Clock) -> None:
        self._repository = repository
        self._hasher = hasher
        self._clock = clock
        self._next_prune_at: datetime | None = None

    async def push(self, client_id: str, params: Sequence[tuple[str, str]]) -> tuple[str, int]:
        """Store a checked request: its (`request_uri`, `expires_in`)."""
        now = self._clock.now()
        request_uri = REQUEST_URI_PREFIX + secrets.token_urlsafe(32)
        await self._repository.insert(self._hasher.hash(request_uri), client_id, list(params),
                                      now + timedelta(seconds=EXPIRES_IN_SECONDS))
        if self._next_prune_at is None or now >= self._next_prune_at:
            self._next_prune_at = now + timedelta(seconds=EXPIRES_IN_SECONDS)
            await self._repository.prune(now)
        return request_uri, EXPIRES_IN_SECONDS

    async def resolve(self, request_uri: str, client_id: str) -> Pairs | None:
        """The pushed parameters behind `request_uri` for `client_id`; None otherwise."""
        if not request_uri.startswith(REQUEST_URI_PREFIX) or len(request_uri) > MAX_REQUEST_URI_LENGTH:
            return None
        now = self._clock.now()
        return await self._repository.start(self._hasher.hash(request_uri), client_id, now,
                                            now + timedelta(seconds=FLOW_SECONDS))

    async def consume(self, request_uri: str) -> bool:
        """Use the request up, as its code is issued; False when it was used already."""
        return await self._repository.consume(self._hasher.hash(request_uri), self._clock.now())
