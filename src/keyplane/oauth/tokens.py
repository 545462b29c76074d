"""Access tokens: minted as RFC 9068 JWTs or opaque references, introspected, revoked.

A JWT is verified offline by every API of the trust domain; revoking one puts its `jti`
on a deny-list until its `exp` (the feed `GET /v1/revocations` carries it to verifiers).
Deleting a client deny-lists all of its tokens at once: one entry with its `client_id`
and no `jti`, for every token issued at or before the deletion (store/clients.py).
An opaque token is a random string in keyplane's key format (prefix `kp_at`: a checksum
lets scanners and verifiers recognise it), stored only as a keyed hash; revoking deletes it.
A JWT for a registered resource server is encrypted to its key (a nested JWT, five parts:
oauth/resource_servers.py); keyplane cannot read it back, so its claims are stored under
its keyed hash as an opaque token's are, for introspection and revocation (which also
deny-lists its `jti`, as for any JWT).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from keyplane.audit import events
from keyplane.audit.events import Actor, AuditEvent
from keyplane.batching import BatchWriter
from keyplane.clock import Clock
from keyplane.errors import InvalidTarget, InvalidToken
from keyplane.jose.jwe import EncryptionKey, encrypt_nested
from keyplane.ids import new_id
from keyplane.jose.jwt import decode_jwt
from keyplane.credentials.format import generate_key, parse_key
from keyplane.credentials.hashing import KeyHasher
from keyplane.oauth.model import Client, IssuedToken, Revocation, TokenClaims
from keyplane.oauth.resource_servers import ResourceServerService
from keyplane.oauth.signing_keys import SigningKeyService
from keyplane.oauth.signing_thread import SigningThread

OPAQUE_PREFIX = "kp_at"
ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1
MAX_TOKEN_LENGTH = 8192


class TokenRepository(Protocol):
    async def store_opaque(self, token_hash: bytes, claims: TokenClaims) -> None: ...
    async def opaque(self, token_hash: bytes) -> TokenClaims | None: ...
    async def delete_opaque(self, token_hash: bytes) -> bool: ...
    async def revoke_jti(self, jti: str, *, client_id: str | None, expires_at: datetime,
                         at: datetime) -> bool: ...
    async def is_revoked(self, jti: str, client_id: str, issued_at: datetime) -> bool: ...
    async def revocations(self, *, since: datetime | None, after: str | None, now: datetime,
                          limit: int) -> list[Revocation]: ...


def new_jti(at: datetime) -> str:
    """A fresh `jti`: a time-ordered id (48 bits of milliseconds, 80 random bits; unique, as
    RFC 7519 asks, and not a secret: the signature protects the token). Time order keeps
    the audit log's index on `target` appended to at its end: with 128 random bits each
    token's `token.issue` event landed at a random place in it, and that insert was most of
    what writing the event cost, a cost that grows with the table (on a fresh log the
    change measured ×1.02 token requests a second, within noise; 2026-11-24)."""
    return new_id("at", at)


_VERIFIED_KEPT = 4_096  # tokens kept verified: ~1 KB each


def is_opaque(token: str) -> bool:
    return token.startswith(OPAQUE_PREFIX + "_") and parse_key(token) is not None


def is_encrypted(token: str) -> bool:
    """A compact JWE (five parts): a JWT encrypted to a resource server."""
    return token.count(".") == 4


class TokenService:
    def __init__(self, signing_keys: SigningKeyService, repository: TokenRepository,
                 hasher: KeyHasher, clock: Clock, *, issuer: str, default_ttl_seconds: int,
                 audit: BatchWriter[AuditEvent], signing: SigningThread | None = None,
                 resource_servers: ResourceServerService | None = None) -> None:
        self._signing_keys = signing_keys
        self._resource_servers = resource_servers
        self._repository = repository
        self._hasher = hasher
        self._clock = clock
        self._issuer = issuer
        self._default_ttl = default_ttl_seconds
        self._audit = audit
        self._signing = signing or SigningThread()
        # JWTs whose signature and claims checked out, with their claims and `nbf`, for the
        # verification keys `_verified_with`: introspection asks again and again about the
        # same tokens, and a signature check is the larger part of it (ES256 ~60 µs). The
        # token string is the key (a hit needs the exact token), expiry and revocation are
        # checked on every use, and a new set of verification keys (a reload, a withdrawn
        # key) empties it.
        self._verified_cache: dict[str, tuple[TokenClaims, float]] = {}
        self._verified_with: object | None = None

    def close(self) -> None:
        """Stop the signing thread (graceful shutdown; later tokens are signed inline)."""
        self._signing.close()

    @property
    def issuer(self) -> str:
        return self._issuer

    def ttl_for(self, client: Client) -> int:
        """The lifetime, in seconds, of the access tokens `client` gets."""
        return client.access_token_ttl_seconds or self._default_ttl

    async def issue(self, client: Client, *, subject: str, scope: tuple[str, ...],
                    audience: tuple[str, ...], extra: dict[str, Any] | None = None,
                    ip: str | None = None, jti: str | None = None,
                    expires_by: datetime | None = None, action: str = events.TOKEN_ISSUE,
                    details: dict[str, Any] | None = None,
                    dpop_jkt: str | None = None) -> IssuedToken:
        """Mint an access token for `client` in its registered format. `jti` is chosen by
        the caller when it must record it before the token exists (refresh rotation);
        `expires_by` caps its lifetime (an exchanged token outlives not its subject token);
        `action` and `details` name the audit event that records it. With `dpop_jkt` the
        token is bound to that DPoP key (RFC 9449 §6: `cnf.jkt`, token type DPoP)."""
        encryption = (await self._encryption_for(audience) if client.token_format == "jwt"
                      else None)
        now = self._clock.now().replace(microsecond=0)  # NumericDate: whole seconds
        ttl = self.ttl_for(client)
        if expires_by is not None:
            ttl = max(0, min(ttl, int((expires_by - now).total_seconds())))
        claims = TokenClaims(jti=jti or new_jti(now), issuer=self._issuer, subject=subject,
                             client_id=client.id, audience=audience, scope=scope, issued_at=now,
                             expires_at=now + timedelta(seconds=ttl),
                             extra={**(extra or {}), **({"cnf": {"jkt": dpop_jkt}} if dpop_jkt else {})})
        if client.token_format == "opaque":
            token = generate_key(OPAQUE_PREFIX)
            await self._repository.store_opaque(self._hasher.hash(token), claims)
        else:
            token = await self._sign(claims)
            if encryption is not None:
                token = encrypt_nested(token, *encryption)
                await self._repository.store_opaque(self._hasher.hash(token), claims)
        # `AuditEvent.of(Actor(client.id, ip), ...)` spelt out: the same event, a little less
        # work on the path every token takes.
        self._audit.add(AuditEvent(
            id=new_id("evt", now), time=now, actor=client.id, action=action,
            target=claims.jti, ip=ip, details={
                "client_id": client.id, "subject": subject, "scope": " ".join(scope),
                "aud": list(audience), "format": client.token_format,
                "expires_at": claims.expires_at.isoformat(), **(details or {})}))
        return IssuedToken(access_token=token, expires_in=ttl, scope=scope, claims=claims,
                           token_type="DPoP" if dpop_jkt else "Bearer")

    async def _encryption_for(self, audience: tuple[str, ...]
                              ) -> tuple[dict[str, Any], EncryptionKey] | None:
        """The key a token for `audience` is encrypted to: its resource server's, if any."""
        if self._resource_servers is None:
            return None
        found = [f for a in audience if (f := await self._resource_servers.for_audience(a))]
        if not found:
            return None
        if len(audience) > 1:
            raise InvalidTarget("a token for a resource server with an encryption key has it "
                                "as its only audience: ask for one resource")
        return found[0]

    async def _sign(self, claims: TokenClaims) -> str:
        key = await self._signing_keys.active()
        payload: dict[str, Any] = {
            "iss": claims.issuer, "sub": claims.subject,
            "aud": claims.audience[0] if len(claims.audience) == 1 else list(claims.audience),
            "exp": int(claims.expires_at.timestamp()), "iat": int(claims.issued_at.timestamp()),
            "nbf": int(claims.issued_at.timestamp()), "jti": claims.jti,
            "client_id": claims.client_id, **claims.extra,
        }
        if claims.scope:
            payload["scope"] = " ".join(claims.scope)
        return await self._signing.run(key.jwt_signer(ACCESS_TOKEN_TYPE).sign, payload)

    async def introspect(self, token: str) -> TokenClaims | None:
        """The claims of an active token keyplane issued; None for anything else (expired,
        revoked, unknown, foreign, malformed)."""
        if len(token) > MAX_TOKEN_LENGTH:
            return None
        now = self._clock.now()
        if is_opaque(token) or is_encrypted(token):
            claims = await self._repository.opaque(self._hasher.hash(token))
            if claims is None or claims.expires_at <= now:
                return None
        else:
            claims = await self._verified(token, now)
        # The deny-list: a revoked JWT; and either format of a deleted client's tokens,
        # an opaque one too when a request in flight stored it after the deletion.
        if claims is None or await self._repository.is_revoked(claims.jti, claims.client_id,
                                                                claims.issued_at):
            return None
        return claims

    async def _verified(self, token: str, now: datetime) -> TokenClaims | None:
        keys = await self._signing_keys.verification_keys()
        if keys is not self._verified_with:
            self._verified_cache.clear()
            self._verified_with = keys
        elif (kept := self._verified_cache.get(token)) is not None:
            timestamp = now.timestamp()
            return kept[0] if kept[1] <= timestamp < kept[0].expires_at.timestamp() else None
        try:
            payload = decode_jwt(token, keys, algorithms={alg for alg, _ in keys.values()},
                                 typ=ACCESS_TOKEN_TYPE, issuer=self._issuer, audience=None,
                                 now=now, leeway_seconds=0)
        except InvalidToken:
            return None
        claims = claims_of(payload, self._issuer)
        if claims is not None:
            if len(self._verified_cache) >= _VERIFIED_KEPT:
                del self._verified_cache[next(iter(self._verified_cache))]  # the oldest
            nbf = payload.get("nbf")  # decode_jwt checked it is a number if present
            not_before = max(float(nbf) if nbf is not None else 0.0, claims.issued_at.timestamp())
            self._verified_cache[token] = (claims, not_before)
        return claims

    async def revoke(self, token: str, client: Client, *, ip: str | None = None) -> None:
        """RFC 7009: revoke a token issued to `client`. Unknown, expired, foreign or
        malformed tokens are not an error (§2.2) and change nothing; a token of another
        client is left alone too (answering differently would tell its holder it is valid)."""
        now = self._clock.now()
        if is_opaque(token):
            token_hash = self._hasher.hash(token)
            claims = await self._repository.opaque(token_hash)
            if claims is None or claims.client_id != client.id:
                return
            await self._repository.delete_opaque(token_hash)
        elif is_encrypted(token):
            token_hash = self._hasher.hash(token)
            claims = await self._repository.opaque(token_hash)
            if claims is None or claims.client_id != client.id:
                return
            await self._repository.delete_opaque(token_hash)
            # The resource server reads it offline: its `jti` goes on the deny-list too.
            await self._repository.revoke_jti(claims.jti, client_id=client.id,
                                              expires_at=claims.expires_at, at=now)
        else:
            verified = await self._verified(token, now) if len(token) <= MAX_TOKEN_LENGTH else None
            if verified is None or verified.client_id != client.id:
                return
            claims = verified
            if not await self._repository.revoke_jti(claims.jti, client_id=client.id,
                                                     expires_at=claims.expires_at, at=now):
                return  # revoked already
        self._audit.add(AuditEvent.of(Actor(id=client.id, ip=ip), events.TOKEN_REVOKE, claims.jti,
                                      now, client_id=client.id, subject=claims.subject))

    async def revocations(self, *, since: datetime | None, after: str | None,
                          limit: int) -> list[Revocation]:
        return await self._repository.revocations(since=since, after=after,
                                                  now=self._clock.now(), limit=limit)


def claims_of(payload: dict[str, Any], issuer: str) -> TokenClaims | None:
    """TokenClaims from a verified JWT payload; None when a required claim is missing."""
    try:
        aud = payload["aud"]
        audience = (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud)
        return TokenClaims(
            jti=str(payload["jti"]), issuer=issuer, subject=str(payload["sub"]),
            client_id=str(payload["client_id"]), audience=audience,
            scope=tuple(str(payload.get("scope", "")).split()),
            issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
            expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
            extra={k: v for k, v in payload.items() if k not in _REGISTERED},
        )
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


_REGISTERED = {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope"}
