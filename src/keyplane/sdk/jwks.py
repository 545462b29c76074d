"""The issuer's signing keys in the verifier: found by discovery, cached, refreshed.

The algorithm allow-list is explicit: the algorithms of the published keys (each key
verifies under its own algorithm only, `jose.jws`), narrowed to what the verifier was
configured with. A token naming a `kid` not in the set may mean a key rotated in since the
last fetch, so it triggers a refetch — at most one per `refetch_interval_seconds`, however
many such tokens arrive, so forged tokens cannot make the verifier hammer the issuer. The
set is also refreshed when older than `max_age_seconds`.
"""

from __future__ import annotations

import math

from keyplane.jose.algorithms import ALGORITHMS
from keyplane.jose.jws import VerificationKeys


class JwksCache:
    def __init__(self, *, algorithms: frozenset[str] | None, refetch_interval_seconds: float,
                 max_age_seconds: float) -> None:
        unknown = (algorithms or frozenset()) - set(ALGORITHMS)
        if unknown:
            raise ValueError(f"unsupported algorithms {sorted(unknown)}; one of {sorted(ALGORITHMS)}")
        self.configured = algorithms
        self.refetch_interval_seconds = refetch_interval_seconds
        self.max_age_seconds = max_age_seconds
        self.keys: VerificationKeys = {}
        self.algorithms: frozenset[str] = frozenset()
        self.fetched_at = -math.inf
        self._refetch_claimed_at = -math.inf
        self.fetches = 0

    @property
    def loaded(self) -> bool:
        return self.fetched_at > -math.inf

    def install(self, keys: VerificationKeys, now: float) -> None:
        allowed = self.configured
        usable = {kid: (alg, key) for kid, (alg, key) in keys.items()
                  if allowed is None or alg in allowed}
        # One assignment each: a request thread sees the old set or the new one.
        self.algorithms = frozenset(alg for alg, _ in usable.values())
        self.keys = usable
        self.fetched_at = now
        self.fetches += 1

    def stale(self, now: float) -> bool:
        return now - self.fetched_at >= self.max_age_seconds

    def claim_refetch(self, now: float) -> bool:
        """Whether an unknown kid may trigger a fetch now (and note that it does)."""
        if now - self._refetch_claimed_at < self.refetch_interval_seconds:
            return False
        self._refetch_claimed_at = now
        return True

