"""Opaque access tokens (`kp_at_...`) in the verifier: RFC 7662 introspection, cached briefly.

An opaque token says nothing by itself, so the service is asked; a positive answer is kept
for `ttl_seconds` (and never past the token's `exp`). Staleness: a token revoked at T is
refused from T + `ttl_seconds` at the latest. Negative answers are not cached. The answer
must also be for this API: `iss` is the configured issuer and `aud` holds the audience.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

from keyplane.sdk.principal import ACCESS_TOKEN, Principal


class IntrospectionCache:
    def __init__(self, *, ttl_seconds: float, max_entries: int) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, k: bytes, now: float) -> Principal | None:
        found = self._entries.get(k)
        if found is None:
            return None
        principal, valid_until = found
        if now >= valid_until:
            with self._lock:
                self._entries.pop(k, None)
            return None
        return principal

    def put(self, k: bytes, principal: Principal, *, exp: float, now: float) -> None:
        valid_until = min(now + self.ttl_seconds, exp)
        if self.ttl_seconds <= 0 or valid_until <= now:
            return
        with self._lock:
            self._entries[k] = (principal, valid_until)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


def principal_of_introspection(answer: dict[str, Any], *, issuer: str | None,
                               audience: str | None, now: float) -> Principal | None:
    """The Principal of an `active: true` answer meant for this API; None otherwise."""
    if answer.get("active") is not True:
        return None
    if issuer is not None and answer.get("iss") != issuer:
        return None
    aud = answer.get("aud")
    if audience is not None and not (aud == audience or (isinstance(aud, list) and audience in aud)):
        return None
    exp = answer.get("exp")
    if not isinstance(exp, int) or exp <= now:
        return None
    scope = answer.get("scope")
    return Principal(kind=ACCESS_TOKEN, subject=str(answer.get("sub", "")),
                     client_id=str(answer["client_id"]) if answer.get("client_id") else None,
                     scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
                     claims=dict(answer))
