"""Login throttling: attempts per account and per client address, through the Limiter.

Every attempt spends from two GCRA buckets at once (all or nothing, one limiter round
trip): one for the account named — known or not, so the answer tells nothing of whether it
exists — and one for the address it came from. Over either limit the attempt is refused
before the password is checked, so a guesser gets no answer and costs no argon2 work. With
KEYPLANE_REDIS_URL the buckets are shared by every replica. If the limiter does not answer
the attempt goes on (logged): the argon2 cost still bounds guessing, and logins stay up.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from keyplane.ratelimit.base import Bucket, Limiter, LimiterUnavailable

log = logging.getLogger("keyplane.users")


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_account: int = 10
    per_address: int = 50
    window_seconds: int = 900


class LoginThrottle:
    def __init__(self, limiter: Limiter, limits: LoginLimits | None = None) -> None:
        self._limiter = limiter
        self._limits = limits or LoginLimits()

    def _buckets(self, username_key: str, ip: str | None) -> list[Bucket]:
        limits = self._limits
        # The account is named by a digest: Redis keys never hold what a person typed.
        account = hashlib.sha256(username_key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        # One hash tag, so both keys live in one Redis Cluster slot (one atomic script).
        buckets = [Bucket(key=f"{{login}}:a:{account}:{limits.per_account}:{limits.window_seconds}",
                          name="login_account", limit=limits.per_account,
                          window_seconds=limits.window_seconds)]
        if ip:
            buckets.append(Bucket(key=f"{{login}}:ip:{ip}:{limits.per_address}:{limits.window_seconds}",
                                  name="login_address", limit=limits.per_address,
                                  window_seconds=limits.window_seconds))
        return buckets

    async def allow(self, username_key: str, ip: str | None, now: datetime) -> bool:
        """Spend one attempt; False when the account or the address is over its limit."""
        try:
            outcome = await self._limiter.spend(self._buckets(username_key, ip), 1, now)
        except LimiterUnavailable:
            log.warning("login throttle unavailable: the attempt goes on unthrottled")
            return True
        return outcome.allowed
