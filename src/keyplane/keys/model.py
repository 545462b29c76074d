"""The values of the API-key domain: frozen, slotted, free of web and ORM types."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from keyplane.keys.permissions import Grants
from keyplane.ratelimit.base import LimitState

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ADMIN_API_ID = "api_00000000000000000000000000"
"""keyplane's own built-in API: its keys are the root keys of the management API."""
ADMIN_KEY_PREFIX = "kp_root"


class Code(StrEnum):
    """The verdict of a verification (`code` in `/v1/keys/verify`)."""

    VALID = "VALID"
    MALFORMED = "MALFORMED"
    NOT_FOUND = "NOT_FOUND"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    DISABLED = "DISABLED"
    FORBIDDEN_IP = "FORBIDDEN_IP"
    INSUFFICIENT_PERMISSIONS = "INSUFFICIENT_PERMISSIONS"
    RATE_LIMITED = "RATE_LIMITED"
    USAGE_EXCEEDED = "USAGE_EXCEEDED"


@dataclass(frozen=True, slots=True)
class Api:
    id: str
    name: str
    key_prefix: str
    created_at: datetime
    rotation_days: int | None = None  # keys older than this open `key.rotation_due`


@dataclass(frozen=True, slots=True)
class Role:
    api_id: str
    name: str
    permissions: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RateLimit:
    name: str
    limit: int
    window_seconds: int
    scope: Literal["key", "owner"] = "key"
    fail_open: bool = True
    """When the limiter cannot be reached: skip this limit (True) or refuse (False)."""


@dataclass(frozen=True, slots=True)
class Refill:
    amount: int
    interval: Literal["daily", "monthly"] | None = None
    interval_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Credits:
    remaining: int
    refill: Refill | None = None
    kept_by: str | None = None
    """Set on a key that was rolled: its balance is kept by the key it was rolled into
    (that key's id), and `remaining` and `refill` are that key's. Never set by a caller."""
    kept_since: datetime | None = None
    """With `kept_by`: when that key was created (its interval refills count from then)."""


@dataclass(frozen=True, slots=True)
class KeyConfig:
    """What a caller chooses about a key: everything `POST /v1/keys` takes but `api_id`."""

    name: str | None = None
    owner_id: str | None = None
    permissions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    expires_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    ratelimits: tuple[RateLimit, ...] = ()
    credits: Credits | None = None
    ip_allowlist: tuple[IPNetwork, ...] = ()
    enabled: bool = True


KeyState = Literal["active", "disabled", "expired", "revoked"]
KEY_STATES: tuple[KeyState, ...] = ("active", "disabled", "expired", "revoked")


def key_state(revoked_at: datetime | None, expires_at: datetime | None, enabled: bool,
              now: datetime) -> KeyState:
    """What a key is at `now`, in the order `decide` checks it: revoked, expired, disabled."""
    if revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active" if enabled else "disabled"


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key as stored: its configuration, its state, never its plaintext."""

    id: str
    api_id: str
    start: str
    config: KeyConfig
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    grants: Grants = field(default_factory=lambda: Grants.of(()))
    """Everything the key may do: its own permissions plus those of its roles."""

    @property
    def effective_permissions(self) -> list[str]:
        return sorted(self.grants.exact)

    def state(self, now: datetime) -> KeyState:
        return key_state(self.revoked_at, self.config.expires_at, self.config.enabled, now)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just created or rolled: the only moment its plaintext exists."""

    stored: StoredKey
    key: str

    def __repr__(self) -> str:
        return f"IssuedKey(id={self.stored.id!r}, start={self.stored.start!r})"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer of a verification; `key` is set whenever the key was found, and then
    `credits_remaining` is its balance (None: unlimited) and `ratelimits` the state of
    each limit it was metered against."""

    code: Code
    key: StoredKey | None = None
    credits_remaining: int | None = None
    ratelimits: tuple[LimitState, ...] = ()

    @property
    def valid(self) -> bool:
        return self.code is Code.VALID
