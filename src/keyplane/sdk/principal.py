"""`Principal`: who made a request, as the verifier established it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

API_KEY: Literal["api_key"] = "api_key"
ACCESS_TOKEN: Literal["access_token"] = "access_token"


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """One limit of an API key after this request: `remaining` of `limit` per
    `window_seconds` (None when the service did not say), full again at `reset_at`."""

    name: str
    limit: int
    remaining: int
    reset_at: datetime
    window_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a protected API.

    - `kind`: `"api_key"` or `"access_token"`.
    - `subject`: a token's `sub`; for a key its `owner_id`, or its id when it has no owner.
    - `client_id`: the OAuth client a token was issued to (None for keys).
    - `owner_id`, `key_id`: the key's (None for tokens).
    - `scopes`: a token's `scope`, split (empty for keys).
    - `permissions`: a key's effective permissions, roles included (empty for tokens).
    - `claims`: a token's verified claims (empty for keys).
    - `metadata`: a key's metadata (empty for tokens).
    - `ratelimits`: a key's limits after this request (empty when it has none).
    """

    kind: Literal["api_key", "access_token"]
    subject: str
    client_id: str | None = None
    owner_id: str | None = None
    key_id: str | None = None
    scopes: frozenset[str] = frozenset()
    permissions: frozenset[str] = frozenset()
    claims: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    ratelimits: tuple[RateLimitState, ...] = ()
