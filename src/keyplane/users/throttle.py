"""Login throttling: attempts per (account, client network) and per client network, through
the Limiter, with delays that grow as attempts go on.

Every attempt spends from all of its GCRA buckets at once (all or nothing, one limiter
round trip) before the password is checked, so a guesser over a limit gets no answer and
costs no argon2 work. The buckets:

- the account named, *from this client network* (an IPv4 /24, an IPv6 /56) — known or not,
  so the answer tells nothing of whether it exists. A stranger guessing a password spends
  only their own network's attempts: the owner, elsewhere, still logs in. (A bucket per
  account alone let anyone lock any account by failing ten times.)
- the client network, whatever the accounts (password spraying).

Each is a ladder of limits, a burst then slower refills (`LoginLimits`): five attempts a
minute, ten in 15 minutes, twenty a day for one account from one network, so the wait
between attempts grows from seconds to over an hour as guessing goes on. With
KEYPLANE_REDIS_URL the buckets are shared by every replica. If the limiter does not answer
the attempt goes on (logged): the argon2 cost still bounds guessing, and logins stay up.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime

from keyplane.ratelimit.base import Bucket, Limiter, LimiterUnavailable

log = logging.getLogger("keyplane.users")

IPV4_NETWORK_BITS = 24
IPV6_NETWORK_BITS = 56  # what one home or small office is usually given


@dataclass(frozen=True, slots=True)
class Tier:
    """`limit` attempts a `window_seconds`: a burst of `limit`, then one every window/limit."""

    limit: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_account_network: tuple[Tier, ...] = (Tier(5, 60), Tier(10, 900), Tier(20, 86_400))
    per_network: tuple[Tier, ...] = (Tier(50, 900), Tier(500, 86_400))


def client_network(ip: str | None) -> str:
    """The network an address counts in: /24 for IPv4, /56 for IPv6 (one guesser rarely
    holds more); anything that is not an address counts as itself."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    bits = IPV4_NETWORK_BITS if address.version == 4 else IPV6_NETWORK_BITS
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


class LoginThrottle:
    def __init__(self, limiter: Limiter, limits: LoginLimits | None = None) -> None:
        self._limiter = limiter
        self._limits = limits or LoginLimits()

    def _buckets(self, username_key: str, ip: str | None) -> list[Bucket]:
        limits = self._limits
        network = client_network(ip)
        # The account is named by a digest: Redis keys never hold what a person typed.
        account = hashlib.sha256(username_key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        # One hash tag, so every key lives in one Redis Cluster slot (one atomic script).
        return [
            *(Bucket(key=f"{{login}}:an:{account}:{network}:{t.limit}:{t.window_seconds}",
                     name="login_account_network", limit=t.limit, window_seconds=t.window_seconds)
              for t in limits.per_account_network),
            *(Bucket(key=f"{{login}}:n:{network}:{t.limit}:{t.window_seconds}",
                     name="login_network", limit=t.limit, window_seconds=t.window_seconds)
              for t in limits.per_network),
        ]

    async def allow(self, username_key: str, ip: str | None, now: datetime) -> bool:
        """Spend one attempt; False when the account from this network, or the network,
        is over a limit."""
        try:
            outcome = await self._limiter.spend(self._buckets(username_key, ip), 1, now)
        except LimiterUnavailable:
            log.warning("login throttle unavailable: the attempt goes on unthrottled")
            return True
        return outcome.allowed
