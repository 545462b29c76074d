"""Revoked JWTs in the verifier: a set of `jti` kept by following `GET /v1/revocations`.

The feed lists unexpired revocations, oldest first (docs/oauth.md). The verifier polls it
every `poll_seconds` with `since` = the start of its previous successful poll (on the
service's clock: its `Date` header) minus `OVERLAP_SECONDS` (revocations committed slightly
out of order across replicas are caught; seeing one twice is harmless) and forgets a `jti` once its token has expired.

Staleness, written down (docs/sdk.md): a token revoked at time T is refused by every
verifier from T + `poll_seconds` + one poll's duration at the latest. If polls fail, JWTs
are still accepted while the last successful poll is less than `max_staleness_seconds` old;
after that the verifier answers 503 rather than risk honouring a revoked token. Before its
first successful poll, a verifier accepts no JWT at all.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

OVERLAP_SECONDS = 30
PAGE_LIMIT = 1000


class RevocationList:
    def __init__(self, *, poll_seconds: float, max_staleness_seconds: float) -> None:
        if max_staleness_seconds < poll_seconds:
            raise ValueError("max_staleness_seconds must be at least poll_seconds")
        self.poll_seconds = poll_seconds
        self.max_staleness_seconds = max_staleness_seconds
        self.jtis: dict[str, float] = {}  # jti -> exp; read by request threads
        self.polled_at = -math.inf  # start of the last successful poll, verifier's clock
        self._since_base = -math.inf  # the same moment on the service's clock, when known
        self.polls = 0

    def __contains__(self, jti: object) -> bool:
        return jti in self.jtis

    def __len__(self) -> int:
        return len(self.jtis)

    def fresh(self, now: float) -> bool:
        """Whether JWTs may be accepted now (the last successful poll is recent enough)."""
        return now - self.polled_at <= self.max_staleness_seconds

    def since(self) -> str | None:
        """The `since` of the next poll; None (everything) for the first."""
        if self._since_base == -math.inf:
            return None
        when = datetime.fromtimestamp(self._since_base, UTC) - timedelta(seconds=OVERLAP_SECONDS)
        return when.isoformat().replace("+00:00", "Z")

    def apply(self, items: list[Any], *, started_at: float, now: float,
              server_started_at: float | None = None) -> None:
        """A complete poll that started at `started_at` (`server_started_at` on the
        service's clock, which the next `since` is measured on: the verifier's clock may
        be off): add its entries, forget the expired ones, count the list fresh from
        `started_at`."""
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("jti"), str):
                continue
            try:
                exp = datetime.fromisoformat(str(item["expires_at"])).timestamp()
            except (KeyError, ValueError):
                exp = math.inf  # unreadable expiry: keep refusing it
            self.jtis[item["jti"]] = exp
        for jti in [j for j, exp in self.jtis.items() if exp < now]:
            self.jtis.pop(jti, None)
        self.polled_at = started_at
        self._since_base = started_at if server_started_at is None else server_started_at
        self.polls += 1
