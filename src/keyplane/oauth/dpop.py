"""DPoP at the token endpoint (RFC 9449 §5): the proof checked (jose/dpop.py), its `jti`
used once, and server-issued nonces.

The replay cache is shared by every worker and replica: Redis when configured (`SET NX`
with an expiry), else the database (store/dpop_proofs.py). A proof is remembered until it
is too old to be accepted anyway.

Nonces (§8) are stateless: the number of the current five-minute window and an HMAC of it
under a key derived from `KEYPLANE_SECRET_KEY`, so every worker issues and accepts the same
ones with nothing stored; the current and the previous window's nonces are accepted. With
`KEYPLANE_DPOP_NONCE_REQUIRED` every proof must carry one; otherwise a nonce is offered in
each answer (`DPoP-Nonce`) and checked only when a proof carries one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from keyplane.clock import Clock
from keyplane.errors import InvalidDpopProof, InvalidToken, StoreUnavailable, UseDpopNonce
from keyplane.jose.dpop import (
    LEEWAY_SECONDS,
    MAX_AGE_SECONDS,
    DpopNonces,
    DpopProof,
    replay_key,
    verify_proof,
)

PRUNE_SECONDS = 60


class ProofReplayCache(Protocol):
    async def first_use(self, key: bytes, expires_at: datetime, now: datetime) -> bool:
        """Records `key` until `expires_at`; False when it was recorded and unexpired."""
        ...

    async def prune(self, now: datetime) -> int: ...

    async def close(self) -> None: ...


class RedisProofReplayCache:
    """The replay cache in Redis: one key per proof, expiring on its own."""

    def __init__(self, url: str, *, prefix: str = "kp:dpop:") -> None:
        self._redis = aioredis.Redis.from_url(url)
        self._prefix = prefix.encode()

    async def first_use(self, key: bytes, expires_at: datetime, now: datetime) -> bool:
        milliseconds = max(1, int((expires_at - now).total_seconds() * 1000))
        try:
            return bool(await self._redis.set(self._prefix + key.hex().encode(), b"1", nx=True,
                                              px=milliseconds))
        except RedisError as exc:
            raise StoreUnavailable("the DPoP replay cache (Redis) does not answer") from exc

    async def prune(self, now: datetime) -> int:
        return 0  # keys expire on their own

    async def close(self) -> None:
        await self._redis.aclose()


class DpopService:
    def __init__(self, replay: ProofReplayCache, clock: Clock, *, nonce_key: bytes,
                 nonce_required: bool) -> None:
        self._replay = replay
        self._clock = clock
        self._nonces = DpopNonces(nonce_key)
        self.nonce_required = nonce_required
        self._next_prune_at: datetime | None = None

    async def close(self) -> None:
        await self._replay.close()

    def nonce(self) -> str:
        """The nonce of the current window, for a `DPoP-Nonce` header."""
        return self._nonces.current(self._clock.now().timestamp())

    async def check(self, proofs: list[str], *, method: str, urls: tuple[str, ...],
                    access_token: str | None = None) -> DpopProof | None:
        """The proof of a request (None without one), checked and its `jti` used up.
        Raises InvalidDpopProof (more than one proof, or one that does not hold or is
        replayed) or UseDpopNonce (a nonce is missing where required, or stale)."""
        if not proofs:
            return None
        if len(proofs) > 1:
            raise InvalidDpopProof("send one DPoP header")
        now = self._clock.now()
        try:
            proof = verify_proof(proofs[0], method=method, urls=urls, now=now.timestamp(),
                                 access_token=access_token)
        except InvalidToken as exc:
            raise InvalidDpopProof(str(exc)) from None
        if proof.nonce is not None or self.nonce_required:
            if proof.nonce is None or not self._nonces.is_fresh(proof.nonce, now.timestamp()):
                raise UseDpopNonce("send the DPoP proof again with the nonce this server issued",
                                   nonce=self.nonce())
        expires_at = now + timedelta(seconds=MAX_AGE_SECONDS + 2 * LEEWAY_SECONDS)
        if not await self._replay.first_use(replay_key(proof), expires_at, now):
            raise InvalidDpopProof("this DPoP proof was used before: make a new one per request")
        if self._next_prune_at is None or now >= self._next_prune_at:
            self._next_prune_at = now + timedelta(seconds=PRUNE_SECONDS)
            await self._replay.prune(now)
        return proof
