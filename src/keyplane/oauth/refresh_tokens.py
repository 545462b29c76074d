"""Refresh tokens (RFC 6749 §6, RFC 9700 §4.14): opaque, rotated on every use, reuse revokes
the whole family.

A refresh token is a random string in keyplane's key format (prefix `kp_rt`: 131 random bits
and a checksum, so scanners recognise one), stored only as a keyed hash, like opaque access
tokens. The first one of an authorization grant starts a *family*: the grant's client,
subject, scope, audience and absolute expiry. Every use rotates: the presented token is
marked used and a successor of the same family is issued with a new access token, in one
transaction whose conditional UPDATE (`used_at IS NULL`) lets exactly one of concurrent
uses win. A used token presented again after a short grace is *reuse*: someone holds a copy,
so the family is revoked — every refresh token of it, and every access token issued with
them (JWTs by `jti` on the deny-list, opaque ones deleted) — and `refresh_token.reuse` is
audited (docs/refresh-and-device.md says why the grace, and how long).

Lifetimes: the family's absolute expiry (`refresh_token_ttl_seconds` of the client, else the
setting) is fixed at its start and never extended by rotation; each token also dies when
unused for the idle lifetime (`refresh_token_idle_seconds`), capped by the absolute one.
"""

from __future__ import annotations

import dataclasses
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
    InvalidDpopProof,
    InvalidGrant,
    InvalidScope,
    InvalidTarget,
)
from keyplane.ids import is_id, new_id
from keyplane.oauth.model import GRANT_REFRESH_TOKEN, Authentication, Client, IssuedToken
from keyplane.oauth.scopes import SCOPE_TOKEN
from keyplane.oauth.tokens import TokenService, new_jti

REFRESH_PREFIX = "kp_rt"
# Reasons a family ends before its time, as stored and audited.
REUSE = "reuse"
REVOKED = "revoked"  # RFC 7009 revocation by its client
CODE_REUSE = "code_reuse"  # the authorization code that started it was replayed
CONSENT_WITHDRAWN = "consent_withdrawn"  # the user took back the client's approval
_INVALID = "the refresh token is invalid, expired or revoked"
PRUNE_SECONDS = 600


def is_refresh_token(token: str) -> bool:
    """Whether `token` has the shape of a keyplane refresh token (says nothing of validity)."""
    if not token.startswith(REFRESH_PREFIX + "_"):
        return False
    parsed = parse_key(token)
    return parsed is not None and parsed.prefix == REFRESH_PREFIX


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    """A stored refresh token with its family: what the token stands for."""

    token_id: str
    family_id: str
    client_id: str
    subject: str
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    issued_at: datetime
    idle_expires_at: datetime
    family_expires_at: datetime
    used_at: datetime | None
    family_revoked_at: datetime | None
    dpop_jkt: str | None = None  # RFC 9449 §5: a public client's family, bound to its key
    authentication: Authentication | None = None  # the login it came from (ID tokens)

    @property
    def expires_at(self) -> datetime:
        return min(self.idle_expires_at, self.family_expires_at)

    def is_active(self, now: datetime) -> bool:
        return self.used_at is None and self.family_revoked_at is None and self.expires_at > now


@dataclass(frozen=True, slots=True)
class NewFamily:
    id: str
    client_id: str
    subject: str
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    dpop_jkt: str | None = None
    authentication: Authentication | None = None


@dataclass(frozen=True, slots=True)
class NewRefreshToken:
    id: str
    token_hash: bytes
    family_id: str
    issued_at: datetime
    idle_expires_at: datetime
    access_jti: str | None
    access_expires_at: datetime | None

    def __repr__(self) -> str:
        return f"NewRefreshToken(id={self.id!r}, family_id={self.family_id!r})"


Rotation = Literal["rotated", "used", "family_gone"]


class RefreshTokenRepository(Protocol):
    async def start_family(self, family: NewFamily, first: NewRefreshToken) -> None: ...

    async def by_hash(self, token_hash: bytes) -> RefreshGrant | None: ...

    async def rotate(self, used: RefreshGrant, successor: NewRefreshToken,
                     now: datetime) -> Rotation:
        """In one transaction: lock the family (alive, unexpired at `now`), mark `used`
        used where it is not yet (`UPDATE ... WHERE used_at IS NULL`, rowcount checked), and
        insert `successor`. "used" when another use got there first, "family_gone" when
        the family was revoked or expired; nothing changes then."""
        ...

    async def used_at(self, token_id: str) -> datetime | None: ...

    async def revoke_family(self, family_id: str, *, at: datetime, reason: str,
                            event: AuditEvent) -> int | None:
        """Revoke the family and the access tokens issued with it, recording `event` in the
        same transaction; returns how many access tokens were revoked, or None when the
        family was revoked already (nothing is recorded then)."""
        ...

    async def prune(self, now: datetime) -> int:
        """Forget families (and their tokens) past their absolute expiry."""
        ...

    async def live_families(self, client_id: str, subject: str, now: datetime) -> list[str]:
        """The ids of the families of `client_id` for `subject` not revoked nor expired."""
        ...


class ActiveUsers(Protocol):
    async def active_user(self, user_id: str) -> object | None:
        """The user when they exist and are not disabled; None otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    default_ttl_seconds: int
    default_idle_seconds: int
    reuse_grace_seconds: int


class RefreshTokenService:
    def __init__(self, repository: RefreshTokenRepository, tokens: TokenService, hasher: KeyHasher,
                 clock: Clock, policy: RefreshPolicy, *, audit: BatchWriter[AuditEvent],
                 users: ActiveUsers | None = None) -> None:
        self._repository = repository
        self._users = users
        self._next_prune_at: datetime | None = None
        self._tokens = tokens
        self._hasher = hasher
        self._clock = clock
        self._policy = policy
        self._audit = audit

    @property
    def policy(self) -> RefreshPolicy:
        return self._policy

    @staticmethod
    def enabled_for(client: Client) -> bool:
        """Whether `client` gets refresh tokens: it registered the refresh_token grant."""
        return GRANT_REFRESH_TOKEN in client.grant_types

    def _idle_seconds(self, client: Client) -> int:
        return client.refresh_token_idle_seconds or self._policy.default_idle_seconds

    def _successor(self, family_id: str, family_expires_at: datetime, client: Client, now: datetime,
                   access_jti: str | None) -> tuple[str, NewRefreshToken]:
        token = generate_key(REFRESH_PREFIX)
        idle_expires_at = min(now + timedelta(seconds=self._idle_seconds(client)), family_expires_at)
        # Whole seconds plus one: the access token's `exp` is `iat` (whole seconds) + ttl, and
        # a deny-list entry that outlives its token a little costs nothing.
        access_expires_at = (now.replace(microsecond=0)
                             + timedelta(seconds=self._tokens.ttl_for(client) + 1))
        return token, NewRefreshToken(
            id=new_id("rft", now), token_hash=self._hasher.hash(token), family_id=family_id,
            issued_at=now, idle_expires_at=idle_expires_at, access_jti=access_jti,
            access_expires_at=access_expires_at if access_jti else None)

    async def start_family(self, client: Client, *, subject: str, scope: tuple[str, ...],
                           audience: tuple[str, ...], access_jti: str | None,
                           dpop_jkt: str | None = None,
                           authentication: Authentication | None = None) -> tuple[str, str]:
        """A first refresh token for a new grant: (refresh token, family id). `access_jti`
        is the access token issued with it, revoked with the family. A public client's
        family is bound to the DPoP key `dpop_jkt` (RFC 9449 §5): its refresh tokens are
        usable only with proofs of that key; a confidential client authenticates instead."""
        now = self._clock.now()
        ttl = client.refresh_token_ttl_seconds or self._policy.default_ttl_seconds
        family = NewFamily(id=new_id("rtf", now), client_id=client.id, subject=subject,
                           scope=scope, audience=audience, created_at=now,
                           expires_at=now + timedelta(seconds=ttl),
                           dpop_jkt=dpop_jkt if client.is_public else None,
                           authentication=authentication)
        token, first = self._successor(family.id, family.expires_at, client, now, access_jti)
        await self._repository.start_family(family, first)
        if self._next_prune_at is None or now >= self._next_prune_at:
            # Expired families are dead weight (their access tokens expired long before).
            self._next_prune_at = now + timedelta(seconds=PRUNE_SECONDS)
            await self._repository.prune(now)
        return token, family.id

    async def issue_tokens(self, client: Client, *, subject: str, scope: tuple[str, ...],
                           audience: tuple[str, ...], ip: str | None = None,
                           dpop_jkt: str | None = None,
                           authentication: Authentication | None = None,
                           ) -> tuple[IssuedToken, str | None]:
        """An access token, plus a refresh token of a new family when the client may use
        the refresh_token grant: (token response, family id or None). What the
        authorization_code and device_code grants answer with; `authentication` is the
        login the grant came from, kept with the family for ID tokens on refresh."""
        issued = await self._tokens.issue(client, subject=subject, scope=scope, audience=audience,
                                          ip=ip, dpop_jkt=dpop_jkt)
        if not self.enabled_for(client):
            return issued, None
        token, family_id = await self.start_family(client, subject=subject, scope=scope,
                                                   audience=audience, access_jti=issued.claims.jti,
                                                   dpop_jkt=dpop_jkt, authentication=authentication)
        return dataclasses.replace(issued, refresh_token=token), family_id

    async def refresh(self, client: Client, token: str, *, scope: str | None,
                      resources: tuple[str, ...], ip: str | None = None,
                      dpop_jkt: str | None = None) -> IssuedToken:
        """The refresh_token grant: rotate `token` and issue a new access token.

        The token endpoint has checked that `client` registered the grant. Raises InvalidGrant (unknown, another client's, expired,
        revoked, used — reuse past the grace revokes the family), InvalidScope (a scope
        not granted originally), InvalidTarget (an audience not granted originally)."""
        grant = await self._find(token)
        if grant is None or grant.client_id != client.id:
            # RFC 6749 §6: bound to the client it was issued to; a stranger learns nothing.
            raise InvalidGrant(_INVALID)
        now = self._clock.now()
        if grant.family_revoked_at is not None or grant.family_expires_at <= now:
            raise InvalidGrant(_INVALID)
        if grant.dpop_jkt is not None and grant.dpop_jkt != dpop_jkt:
            raise InvalidDpopProof("this refresh token is bound to a DPoP key: send a proof "
                                   "signed with it")
        if grant.used_at is not None:
            await self._reused(grant, grant.used_at, now, ip)
        if grant.idle_expires_at <= now:
            raise InvalidGrant(_INVALID)
        if self._users is not None and is_id(grant.subject, "usr") \
                and await self._users.active_user(grant.subject) is None:
            # A disabled or deleted user's grants stop working (their family is kept: a
            # disabled user may be enabled again).
            raise InvalidGrant("the user of this grant is disabled or deleted")
        narrowed = _narrowed_scope(scope, grant.scope)
        audience = _narrowed_audience(resources, grant.audience)
        jti = new_jti(now)
        new_token, successor = self._successor(grant.family_id, grant.family_expires_at, client,
                                               now, jti)
        outcome = await self._repository.rotate(grant, successor, now)
        if outcome == "family_gone":
            raise InvalidGrant(_INVALID)
        if outcome == "used":  # lost a race with a concurrent use of the same token
            await self._reused(grant, await self._repository.used_at(grant.token_id) or now, now, ip)
        issued = await self._tokens.issue(client, subject=grant.subject, scope=narrowed,
                                          audience=audience, ip=ip, jti=jti, dpop_jkt=dpop_jkt)
        return dataclasses.replace(issued, refresh_token=new_token,
                                   authentication=grant.authentication)

    async def _reused(self, grant: RefreshGrant, used_at: datetime, now: datetime,
                      ip: str | None) -> None:
        """A used token came back. Within the grace of its use: a client's own concurrent
        requests (two tabs, a retried request) lost a race — refused, family kept. Later:
        a copy exists — the family is revoked and the reuse audited. Always raises."""
        if (now - used_at).total_seconds() < self._policy.reuse_grace_seconds:
            raise InvalidGrant("the refresh token was already used")
        actor = Actor(id=grant.client_id, ip=ip)
        event = AuditEvent.of(actor, events.REFRESH_TOKEN_REUSE, grant.family_id, now,
                              client_id=grant.client_id, subject=grant.subject,
                              token_id=grant.token_id, used_at=used_at.isoformat())
        await self._repository.revoke_family(grant.family_id, at=now, reason=REUSE, event=event)
        raise InvalidGrant("the refresh token was already used; its grant is revoked")

    async def _find(self, token: str) -> RefreshGrant | None:
        if len(token) > 64 or not is_refresh_token(token):
            return None
        return await self._repository.by_hash(self._hasher.hash(token))

    async def introspect(self, token: str) -> RefreshGrant | None:
        """The grant of an active refresh token (unused, unexpired, family alive); None for
        anything else."""
        grant = await self._find(token)
        return grant if grant is not None and grant.is_active(self._clock.now()) else None

    async def revoke(self, token: str, client: Client, *, ip: str | None = None) -> bool:
        """RFC 7009: when `token` is a refresh token of `client`, revoke its family (every
        refresh token and the access tokens issued with them, §2.1). True when `token` was
        a refresh token of `client` (revoked now or before); False otherwise, and nothing
        changes (another client's token is left alone)."""
        grant = await self._find(token)
        if grant is None or grant.client_id != client.id:
            return False
        await self.revoke_family(grant.family_id, reason=REVOKED, actor=Actor(id=client.id, ip=ip),
                                 client_id=client.id, subject=grant.subject)
        return True

    async def revoke_family(self, family_id: str, *, reason: str, actor: Actor,
                            client_id: str | None = None, subject: str | None = None) -> bool:
        """Revoke a family and its access tokens (for the authorization_code grant: a
        replayed code revokes what it issued). False when it was revoked already."""
        now = self._clock.now()
        event = AuditEvent.of(actor, events.REFRESH_FAMILY_REVOKE, family_id, now, reason=reason,
                              client_id=client_id, subject=subject)
        revoked = await self._repository.revoke_family(family_id, at=now, reason=reason, event=event)
        return revoked is not None


    async def revoke_grants(self, client_id: str, subject: str, *, reason: str, actor: Actor) -> int:
        """Revoke every live family `client_id` holds for `subject` (a withdrawn consent:
        what the approval gave stops working, refresh tokens and their access tokens).
        Returns how many families were revoked."""
        families = await self._repository.live_families(client_id, subject, self._clock.now())
        revoked = 0
        for family_id in families:
            revoked += await self.revoke_family(family_id, reason=reason, actor=actor,
                                                client_id=client_id, subject=subject)
        return revoked


class CodeReplayRevoker:
    """What the authorization_code grant calls when a redeemed code comes back: the family
    its refresh token started is revoked (RFC 9700 §4.5: a replayed code revokes what it
    issued)."""

    def __init__(self, refresh_tokens: RefreshTokenService) -> None:
        self._refresh_tokens = refresh_tokens

    async def revoke_family(self, family_id: str, *, ip: str | None) -> None:
        await self._refresh_tokens.revoke_family(family_id, reason=CODE_REUSE,
                                                 actor=Actor(id="authorization_code", ip=ip))


def _narrowed_scope(requested: str | None, granted: tuple[str, ...]) -> tuple[str, ...]:
    """RFC 6749 §6: the requested scope, which must not include any scope not originally
    granted; the original scope when none is requested."""
    if requested is None or not requested.strip():
        return granted
    names = tuple(dict.fromkeys(requested.split(" ")))
    for name in names:
        if not name or SCOPE_TOKEN.fullmatch(name) is None:
            raise InvalidScope("scopes are separated by single spaces and use printable ASCII")
        if name not in granted:
            raise InvalidScope(f"the scope {name!r} was not granted to this refresh token")
    return names


def _narrowed_audience(resources: tuple[str, ...], granted: tuple[str, ...]) -> tuple[str, ...]:
    """RFC 8707 §2.2: `resource` on a refresh request narrows the audience to what was
    granted; without it, the access token is for the audience granted originally."""
    if not resources:
        return granted
    for resource in resources:
        if resource not in granted:
            raise InvalidTarget(f"the resource {resource} was not granted to this refresh token")
    return tuple(dict.fromkeys(resources))
