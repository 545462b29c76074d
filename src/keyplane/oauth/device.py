"""The device authorization grant (RFC 8628): for devices without a browser or keyboard.

The device asks for a `device_code` (a secret it polls with) and a `user_code` (what the
user types on another screen). The user logs in, enters the code, sees the client and the
scopes, and approves or denies; meanwhile the device polls the token endpoint, told
`authorization_pending`, `slow_down` (polling faster than the interval: the interval grows
by 5 s, §3.5), `access_denied` or `expired_token`, until it gets its tokens — once.

User codes (§6.1): 8 characters from 20 consonants (`BCDFGHJKLMNPQRSTVWXZ`: no vowels, so
no words; no digits, so no 0/O or 1/I), shown `XXXX-XXXX`, compared case-insensitively
ignoring dashes and spaces: 20^8 ≈ 2^34.6 codes. They live minutes, and entering them is
rate-limited per address and per user (docs/refresh-and-device.md has the brute-force
bound). Both codes are stored only as keyed hashes.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from keyplane.audit import events
from keyplane.audit.events import Actor, AuditEvent
from keyplane.batching import BatchWriter
from keyplane.clock import Clock
from keyplane.credentials.format import generate_key, parse_key
from keyplane.credentials.hashing import KeyHasher
from keyplane.errors import (
    AccessDenied,
    AuthorizationPending,
    Conflict,
    ExpiredToken,
    Invalid,
    InvalidGrant,
    NotFound,
    SlowDown,
    TooManyRequests,
    UnauthorizedClient,
)
from keyplane.ids import new_id
from keyplane.oauth.model import GRANT_DEVICE_CODE, Client
from keyplane.ratelimit.base import Bucket, Limiter, LimiterUnavailable

log = logging.getLogger("keyplane.device")

DEVICE_CODE_PREFIX = "kp_dc"
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
SLOW_DOWN_SECONDS = 5  # RFC 8628 §3.5
_INSERT_ATTEMPTS = 5

Status = Literal["pending", "approved", "denied", "consumed"]


def new_user_code() -> str:
    """A fresh user code, normalised (8 letters, no dash)."""
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


def display_user_code(code: str) -> str:
    """`BCDFGHJK` as people see it: `BCDF-GHJK`."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def normalize_user_code(text: str) -> str | None:
    """A user code as typed (any case, dashes and spaces anywhere) in its normal form, or
    None when it cannot be one."""
    if len(text) > 32:
        return None
    code = "".join(ch for ch in text if ch not in "- ").upper()
    if len(code) != USER_CODE_LENGTH or any(ch not in USER_CODE_ALPHABET for ch in code):
        return None
    return code


@dataclass(frozen=True, slots=True)
class DeviceGrant:
    """A device authorization as stored (no codes: only their hashes are kept)."""

    id: str
    client_id: str
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    interval_seconds: int
    last_polled_at: datetime | None
    status: Status
    subject: str | None
    granted_scope: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    """The device authorization response (RFC 8628 §3.2); the codes exist in clear only here."""

    device_code: str
    user_code: str  # as displayed, XXXX-XXXX
    expires_in: int
    interval: int
    grant: DeviceGrant

    def __repr__(self) -> str:
        return f"DeviceAuthorization(id={self.grant.id!r})"


@dataclass(frozen=True, slots=True)
class ApprovedDevice:
    """What the device gets tokens for, once."""

    client_id: str
    subject: str
    scope: tuple[str, ...]
    audience: tuple[str, ...]


class DeviceRepository(Protocol):
    async def insert(self, grant: DeviceGrant, device_code_hash: bytes, user_code_hash: bytes) -> bool:
        """False when the user code's hash is taken (try another code)."""
        ...

    async def by_device_code(self, device_code_hash: bytes) -> DeviceGrant | None: ...

    async def by_user_code(self, user_code_hash: bytes) -> DeviceGrant | None: ...

    async def get(self, grant_id: str) -> DeviceGrant | None: ...

    async def polled(self, grant_id: str, *, at: datetime, interval_seconds: int) -> None: ...

    async def decide(self, grant_id: str, *, status: Status, subject: str,
                     granted_scope: tuple[str, ...], at: datetime) -> bool:
        """Record the user's decision where the grant is pending and unexpired at `at`."""
        ...

    async def consume(self, grant_id: str) -> bool:
        """approved → consumed; False when it was not approved (anymore)."""
        ...

    async def prune(self, now: datetime) -> int: ...


# Device authorizations a minute, per client and address, and per client: a device asks
# once per sign-in, so these only stop floods of pending rows.
AUTHORIZE_PER_ADDRESS = 20
AUTHORIZE_PER_CLIENT = 1_000


@dataclass(frozen=True, slots=True)
class DevicePolicy:
    code_ttl_seconds: int
    interval_seconds: int
    user_code_attempts: int  # a window per address, and per user
    user_code_window_seconds: int


class DeviceFlow:
    def __init__(self, repository: DeviceRepository, hasher: KeyHasher, clock: Clock,
                 limiter: Limiter, policy: DevicePolicy, *, audit: BatchWriter[AuditEvent]) -> None:
        self._repository = repository
        self._hasher = hasher
        self._clock = clock
        self._limiter = limiter
        self._policy = policy
        self._audit = audit
        self._next_prune_at: datetime | None = None

    @property
    def policy(self) -> DevicePolicy:
        return self._policy

    def _user_code_hash(self, code: str) -> bytes:
        return self._hasher.hash("user_code:" + code)

    async def authorize(self, client: Client, *, scope: tuple[str, ...], audience: tuple[str, ...],
                        ip: str | None = None) -> DeviceAuthorization:
        """RFC 8628 §3.1–3.2: new codes for `client` (scope and audience already checked by
        the caller against the client). Raises UnauthorizedClient."""
        if GRANT_DEVICE_CODE not in client.grant_types:
            raise UnauthorizedClient("this client may not use the device_code grant")
        now = self._clock.now()
        # Anyone can name a public client: bound how fast one address, and the client as a
        # whole, can fill the store with pending authorizations.
        buckets = [self._authorize_bucket(f"{client.id}:{ip or 'unknown'}", AUTHORIZE_PER_ADDRESS),
                   self._authorize_bucket(client.id, AUTHORIZE_PER_CLIENT)]
        if not await self._allowed(buckets, now):
            raise TooManyRequests("too many device authorizations; wait a minute and try again")
        await self._prune(now)
        device_code = generate_key(DEVICE_CODE_PREFIX)
        grant = DeviceGrant(
            id=new_id("dva", now), client_id=client.id, scope=scope, audience=audience,
            created_at=now, expires_at=now + timedelta(seconds=self._policy.code_ttl_seconds),
            interval_seconds=self._policy.interval_seconds, last_polled_at=None,
            status="pending", subject=None, granted_scope=None)
        for _ in range(_INSERT_ATTEMPTS):  # a live code drawn twice: draw again
            user_code = new_user_code()
            if await self._repository.insert(grant, self._hasher.hash(device_code),
                                             self._user_code_hash(user_code)):
                break
        else:
            raise Conflict("could not draw a free user code; try again")
        self._audit.add(AuditEvent.of(Actor(id=client.id, ip=ip), events.DEVICE_AUTHORIZE, grant.id,
                                      now, client_id=client.id, scope=" ".join(scope)))
        return DeviceAuthorization(device_code=device_code, user_code=display_user_code(user_code),
                                   expires_in=self._policy.code_ttl_seconds,
                                   interval=grant.interval_seconds, grant=grant)

    async def _prune(self, now: datetime) -> None:
        if self._next_prune_at is None or now >= self._next_prune_at:
            self._next_prune_at = now + timedelta(seconds=60)
            await self._repository.prune(now)

    async def find_pending(self, typed: str, *, user_id: str, ip: str | None) -> DeviceGrant:
        """The pending, unexpired grant a user code names, for the page that asks the user.

        Every attempt spends from a limit per address and per user, before any lookup, so
        guessing is bounded whatever the answers. Raises TooManyRequests, or Invalid when
        the code is malformed, unknown, expired or decided already (one answer for all)."""
        now = self._clock.now()
        buckets = [self._bucket("ip", ip or "unknown"), self._bucket("user", user_id)]
        if not await self._allowed(buckets, now):
            raise TooManyRequests("too many codes entered; wait a minute and try again")
        code = normalize_user_code(typed)
        grant = await self._repository.by_user_code(self._user_code_hash(code)) if code else None
        if grant is None or grant.status != "pending" or grant.expires_at <= now:
            self._audit.add(AuditEvent.of(Actor(id=user_id, ip=ip), events.DEVICE_USER_CODE_FAILURE,
                                          user_id, now))
            raise Invalid.field("user_code", "this code is not valid: check it on your device; "
                                "codes expire after a few minutes")
        return grant

    async def _allowed(self, buckets: list[Bucket], now: datetime) -> bool:
        """One attempt spent from `buckets`. These limits guard against guessing and
        flooding, so they fail closed: with the shared limiter (Redis) unreachable the
        attempt is refused as over the limit (429, try again), never an error."""
        try:
            return (await self._limiter.spend(buckets, 1, now)).allowed
        except LimiterUnavailable:
            log.warning("rate limiter unavailable: device-flow attempt refused (fail closed)")
            return False

    @staticmethod
    def _authorize_bucket(who: str, limit: int) -> Bucket:
        return Bucket(key=f"device_authorize:{who[:120]}:{limit}:60", name="device_authorize",
                      limit=limit, window_seconds=60, fail_open=False)

    def _bucket(self, kind: str, value: str) -> Bucket:
        limit, window = self._policy.user_code_attempts, self._policy.user_code_window_seconds
        # The limit and window are part of the key, so a changed setting starts afresh.
        return Bucket(key=f"device_user_code:{kind}:{value[:64]}:{limit}:{window}", name="user_code",
                      limit=limit, window_seconds=window, fail_open=False)

    async def pending(self, grant_id: str) -> DeviceGrant:
        """A pending, unexpired grant by id (the decision form carries it). Raises NotFound."""
        grant = await self._repository.get(grant_id)
        if grant is None or grant.status != "pending" or grant.expires_at <= self._clock.now():
            raise NotFound("this request is no longer waiting for a decision")
        return grant

    async def decide(self, grant_id: str, *, approve: bool, user_id: str,
                     scope: tuple[str, ...] | None = None, ip: str | None = None) -> DeviceGrant:
        """Approve (with `scope`, at most what was asked; default all of it) or deny.
        Raises NotFound when the grant is gone, expired or decided already; Invalid for a
        scope that was not asked for."""
        grant = await self.pending(grant_id)
        granted = grant.scope if scope is None else scope
        unknown = [s for s in granted if s not in grant.scope]
        if unknown:
            raise Invalid.field("scope", f"{unknown[0]} was not requested by the device")
        now = self._clock.now()
        status: Status = "approved" if approve else "denied"
        if not await self._repository.decide(grant.id, status=status, subject=user_id,
                                             granted_scope=granted if approve else (), at=now):
            raise NotFound("this request is no longer waiting for a decision")
        self._audit.add(AuditEvent.of(
            Actor(id=user_id, ip=ip), events.DEVICE_APPROVE if approve else events.DEVICE_DENY,
            grant.id, now, client_id=grant.client_id,
            scope=" ".join(granted) if approve else None))
        found = await self._repository.get(grant.id)
        assert found is not None
        return found

    async def poll(self, client: Client, device_code: str) -> ApprovedDevice:
        """The device_code grant's check (RFC 8628 §3.4–3.5). Returns what to issue tokens
        for, once; raises InvalidGrant, ExpiredToken, SlowDown, AuthorizationPending or
        AccessDenied. The token endpoint has checked that `client` registered the grant."""
        parsed = parse_key(device_code) if len(device_code) <= 64 else None
        grant = None
        if parsed is not None and parsed.prefix == DEVICE_CODE_PREFIX:
            grant = await self._repository.by_device_code(self._hasher.hash(device_code))
        if grant is None or grant.client_id != client.id:
            raise InvalidGrant("the device_code is not valid for this client")
        if grant.status == "consumed":
            raise InvalidGrant("the device_code was used already")
        now = self._clock.now()
        if grant.expires_at <= now:
            raise ExpiredToken("the device_code expired; start again")
        interval = grant.interval_seconds
        if grant.last_polled_at is not None and \
                (now - grant.last_polled_at).total_seconds() < interval:
            # §3.5: the interval grows by 5 s "for this and all subsequent requests".
            await self._repository.polled(grant.id, at=now, interval_seconds=interval + SLOW_DOWN_SECONDS)
            raise SlowDown(f"polling too fast: wait {interval + SLOW_DOWN_SECONDS} s between requests")
        await self._repository.polled(grant.id, at=now, interval_seconds=interval)
        answer: Callable[[], Exception] | None = {
            "pending": lambda: AuthorizationPending("the user has not yet approved the request"),
            "denied": lambda: AccessDenied("the user denied the request"),
        }.get(grant.status)
        if answer is not None:
            raise answer()
        # Approved: exactly one poll gets the tokens, however many race.
        if grant.subject is None or not await self._repository.consume(grant.id):
            raise InvalidGrant("the device_code was used already")
        return ApprovedDevice(client_id=client.id, subject=grant.subject,
                              scope=grant.granted_scope or (), audience=grant.audience)

