"""Revoked JWTs in the verifier: a set of `jti` kept by following `GET /v1/revocations`,
and the deleted clients (an entry with `client_id` and `jti` null: every token of that
client whose `iat` is at or before the entry's `revoked_at` is refused, the same way).

The feed lists unexpired revocations, oldest first (docs/oauth.md). The verifier polls it
every `poll_seconds` with `since` = the start of its previous successful poll (on the
service's clock: its `Date` header) minus `OVERLAP_SECONDS` (revocations committed slightly
out of order across replicas are caught; seeing one twice is harmless) and forgets an
entry once the tokens it refuses have expired.

Staleness, written down (docs/sdk.md): a token revoked at time T is refused by every
verifier from T + `poll_seconds` + one poll's duration at the latest. If polls fail, JWTs
are still accepted while the last successful poll is less than `max_staleness_seconds` old;
after that the verifier answers 503 rather than risk honouring a revoked token. Before its
first successful poll, a verifier accepts no JWT at all.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
        # client_id -> (revoked_at, exp) of a deleted client; read by request threads, and
        # empty but for a day after a deletion: the hot path tests it for truth first.
        self.clients: dict[str, tuple[float, float]] = {}
        self.polled_at = -math.inf  # start of the last successful poll, verifier's clock
        self._since_base = -math.inf  # the same moment on the service's clock, when known
        self.polls = 0

    def __contains__(self, jti: object) -> bool:
        return jti in self.jtis

    def __len__(self) -> int:
        return len(self.jtis)

    def revokes_client_of(self, claims: Mapping[str, Any]) -> bool:
        """Whether verified `claims` belong to a deleted client and were issued at or
        before its deletion (a token without a numeric `iat` counts as issued before)."""
        client_id = claims.get("client_id")
        entry = self.clients.get(client_id) if isinstance(client_id, str) else None
        if entry is None:
            return False
        iat = claims.get("iat")
        return not isinstance(iat, int | float) or iat <= entry[0]

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
            if not isinstance(item, dict):
                continue
            jti, client_id = item.get("jti"), item.get("client_id")
            exp = _time(item.get("expires_at"), math.inf)  # unreadable: keep refusing it
            if isinstance(jti, str):
                self.jtis[jti] = exp
            elif jti is None and isinstance(client_id, str):
                revoked_at = _time(item.get("revoked_at"), math.inf)  # unreadable: every token
                if (kept := self.clients.get(client_id)) is not None:
                    revoked_at, exp = max(revoked_at, kept[0]), max(exp, kept[1])
                self.clients[client_id] = (revoked_at, exp)
        for jti in [j for j, exp in self.jtis.items() if exp < now]:
            self.jtis.pop(jti, None)
        for client_id in [c for c, (_, exp) in self.clients.items() if exp < now]:
            self.clients.pop(client_id, None)
        self.polled_at = started_at
        self._since_base = started_at if server_started_at is None else server_started_at
        self.polls += 1


def _time(value: object, unreadable: float) -> float:
    try:
        return datetime.fromisoformat(str(value)).timestamp() if value is not None else unreadable
    except ValueError:
        return unreadable
