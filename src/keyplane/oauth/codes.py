"""Authorization codes (RFC 6749 §4.1.2, §10.5; RFC 9700 §4.5): issued, redeemed once.

A code is 256 random bits, shown once in the redirect and stored as its SHA-256. It lives
60 seconds, is bound to the client, the redirect URI, the PKCE challenge, the user, the
scopes and the audience, and is redeemed at most once: the row is marked used in the same
statement that checks it was not (so of two racing redemptions exactly one wins). A code
presented again is an attack or a bug either way (§4.1.2: "SHOULD revoke ... all tokens
previously issued based on that authorization code"): the access token it issued is
deny-listed (a JWT) or deleted (an opaque token), and so is what the refresh-token grant
records on the row (`refresh_family_id`), with an audit event.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from keyplane.audit import events
from keyplane.audit.events import Actor, AuditEvent
from keyplane.clock import Clock
from keyplane.errors import InvalidGrant, InvalidRequest
from keyplane.oauth.model import Authentication, Client
from keyplane.oauth.pkce import verifier_matches

if TYPE_CHECKING:
    from keyplane.oauth.authorization import AuthorizationRequest

CODE_TTL_SECONDS = 60
PRUNE_AFTER_SECONDS = 86_400  # a code is kept a day past its expiry, to recognise a replay
_CODE = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class StoredCode:
    client_id: str
    user_id: str
    redirect_uri: str  # "" when the authorization request sent none (§4.1.3)
    code_challenge: str | None
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    # OpenID Connect: the request's nonce, and the login the code was issued in.
    nonce: str | None = None
    authentication: Authentication | None = None


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """A code just redeemed: what the token endpoint issues tokens for."""

    code_hash: bytes
    client_id: str
    user_id: str
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    nonce: str | None = None
    authentication: Authentication | None = None

    def __repr__(self) -> str:
        return f"CodeGrant(client_id={self.client_id!r}, user_id={self.user_id!r})"


@dataclass(frozen=True, slots=True)
class Issued:
    """What a code's redemption issued, recorded on its row."""

    access_jti: str | None
    access_expires_at: datetime | None
    refresh_family_id: str | None


class CodeRepository(Protocol):
    async def insert(self, code_hash: bytes, code: StoredCode, event: AuditEvent) -> None: ...

    async def get(self, code_hash: bytes) -> StoredCode | None: ...

    async def consume(self, code_hash: bytes, at: datetime) -> bool:
        """Mark the code used; False when it was used already (it is then marked reused)."""
        ...

    async def record_issued(self, code_hash: bytes, issued: Issued) -> bool:
        """Store what the code issued; True when the code was replayed meanwhile (the
        caller then revokes it at once)."""
        ...

    async def revoke_issued(self, code_hash: bytes, at: datetime, event: AuditEvent) -> Issued:
        """Mark the code reused, deny-list (JWT) or delete (opaque) its access token, and
        audit; returns what it had issued."""
        ...

    async def prune(self, before: datetime) -> int: ...


class ActiveUsers(Protocol):
    async def active_user(self, user_id: str) -> object | None: ...


class RefreshFamilies(Protocol):
    """What revokes the refresh-token family a code issued (the refresh-token service)."""

    async def revoke_family(self, family_id: str, *, ip: str | None) -> None: ...


def code_hash(code: str) -> bytes:
    return hashlib.sha256(code.encode("ascii")).digest()


class AuthorizationCodeService:
    def __init__(self, codes: CodeRepository, users: ActiveUsers, clock: Clock, *,
                 refresh_families: RefreshFamilies | None = None) -> None:
        self._codes = codes
        self._users = users
        self._clock = clock
        self._next_prune_at: datetime | None = None
        # The refresh-token service, when refresh tokens are issued from codes: a replayed
        # code revokes the family recorded on its row.
        self._refresh_families = refresh_families

    async def issue(self, request: AuthorizationRequest, user_id: str, scope: tuple[str, ...], *,
                    ip: str | None, authentication: Authentication | None = None) -> str:
        """A new code for `request`, approved by `user_id` for `scope` in the login
        `authentication`; shown only here."""
        now = self._clock.now()
        code = secrets.token_urlsafe(32)
        stored = StoredCode(client_id=request.client.id, user_id=user_id,
                            redirect_uri=request.redirect_uri if request.redirect_uri_given else "",
                            code_challenge=request.code_challenge, scope=scope,
                            audience=request.audience, created_at=now,
                            expires_at=now + timedelta(seconds=CODE_TTL_SECONDS), used_at=None,
                            nonce=request.nonce, authentication=authentication)
        event = AuditEvent.of(Actor(id=user_id, ip=ip), events.AUTHORIZATION_CODE_ISSUE, user_id,
                              now, client_id=request.client.id, scope=" ".join(scope),
                              pkce=request.code_challenge is not None)
        await self._codes.insert(code_hash(code), stored, event)
        await self._maybe_prune(now)
        return code

    async def redeem(self, client: Client, code: str, *, redirect_uri: str | None,
                     code_verifier: str | None, ip: str | None) -> CodeGrant:
        """The grant of a valid, unused code of `client` (§4.1.3); marks it used. Raises
        InvalidGrant for anything wrong with the code, and revokes what a replayed code
        issued; InvalidRequest for a malformed request."""
        if _CODE.fullmatch(code) is None:
            raise InvalidGrant("the code is not valid")
        digest = code_hash(code)
        stored = await self._codes.get(digest)
        now = self._clock.now()
        if stored is None or stored.client_id != client.id:
            raise InvalidGrant("the code is not valid")
        if stored.used_at is not None:
            await self._revoke(digest, client, ip=ip, at=now)
            raise InvalidGrant("the code was used already")
        if now >= stored.expires_at:
            raise InvalidGrant("the code has expired")
        if stored.redirect_uri:
            if redirect_uri is None:
                raise InvalidRequest("redirect_uri is required: the authorization request had one")
            if redirect_uri != stored.redirect_uri:
                raise InvalidGrant("redirect_uri differs from the authorization request's")
        elif redirect_uri is not None and redirect_uri not in client.redirect_uris:
            raise InvalidGrant("redirect_uri is not one the client registered")
        if stored.code_challenge is not None:
            if code_verifier is None:
                raise InvalidGrant("code_verifier is missing (the code was issued with PKCE)")
            if not verifier_matches(code_verifier, stored.code_challenge):
                raise InvalidGrant("code_verifier does not match the code_challenge")
        elif code_verifier is not None:
            # RFC 9700 §4.8.2: a verifier for a code issued without a challenge is refused
            # (PKCE downgrade).
            raise InvalidGrant("code_verifier was sent, but the code was issued without PKCE")
        if await self._users.active_user(stored.user_id) is None:
            raise InvalidGrant("the user who approved is no longer active")
        if not await self._codes.consume(digest, now):
            await self._revoke(digest, client, ip=ip, at=now)
            raise InvalidGrant("the code was used already")
        return CodeGrant(code_hash=digest, client_id=client.id, user_id=stored.user_id,
                         scope=stored.scope, audience=stored.audience, nonce=stored.nonce,
                         authentication=stored.authentication)

    async def record_issued(self, grant: CodeGrant, issued: Issued, client: Client, *,
                            ip: str | None) -> None:
        """Remember what `grant` issued; if its code was replayed meanwhile, revoke it now."""
        if await self._codes.record_issued(grant.code_hash, issued):
            await self._revoke(grant.code_hash, client, ip=ip, at=self._clock.now())

    async def _revoke(self, digest: bytes, client: Client, *, ip: str | None, at: datetime) -> None:
        event = AuditEvent.of(Actor(id=client.id, ip=ip), events.AUTHORIZATION_CODE_REUSE,
                              client.id, at, client_id=client.id)
        issued = await self._codes.revoke_issued(digest, at, event)
        if issued.refresh_family_id and self._refresh_families is not None:
            await self._refresh_families.revoke_family(issued.refresh_family_id, ip=ip)

    async def _maybe_prune(self, now: datetime) -> None:
        if self._next_prune_at is None or now >= self._next_prune_at:
            self._next_prune_at = now + timedelta(seconds=300)
            await self._codes.prune(now - timedelta(seconds=PRUNE_AFTER_SECONDS))
