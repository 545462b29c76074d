"""OAuth clients (RFC 6749 §2; RFC 7591 names): registration, secrets, and the two checks
the token endpoint makes of them — a client secret, and a client assertion's `jti` (RFC 7523).

A client secret is a key in keyplane's key format (`kp_cs_<22 random><6 checksum>`, 131
random bits), shown once and stored as HMAC-SHA-256 under a pepper of its own derived from
`KEYPLANE_SECRET_KEY`: a fast hash suits a high-entropy secret and keeps the token endpoint
fast (docs/clients.md). Every rule a client's settings must follow is `check_client`, used
alike on create and on update, so no combination the rules forbid can be stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from keyplane.audit import events
from keyplane.audit.events import Actor, AuditEvent
from keyplane.clock import Clock
from keyplane.credentials.format import display_start, generate_key, parse_key
from keyplane.credentials.hashing import derive_subkey
from keyplane.errors import Conflict, FieldError, Invalid, NotFound
from keyplane.ids import is_id, new_id
from keyplane.oauth.client_metadata import (
    jwks_errors,
    redirect_uri_error,
    resource_uri_error,
    scope_error,
    text_error,
)
from keyplane.oauth.model import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE,
    Client,
    IssuedClient,
)
from keyplane.pagination import Page, page_of

SECRET_PREFIX = "kp_cs"
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
AUTH_METHODS = (*SECRET_METHODS, "private_key_jwt", "none")
GRANT_TYPES = (GRANT_CLIENT_CREDENTIALS, GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN,
               GRANT_DEVICE_CODE, GRANT_TOKEN_EXCHANGE)
# RFC 9700 §2.1.2 and §2.4: the implicit and password grants MUST NOT be used.
REFUSED_GRANTS = {
    "implicit": "the implicit grant is not supported: it leaks tokens in URLs (RFC 9700 "
                "§2.1.2); use authorization_code with PKCE",
    "password": "the resource owner password grant is not supported (RFC 9700 §2.4); use "
                "authorization_code or the device_code grant",
}
TOKEN_FORMATS = ("jwt", "opaque")
ACCESS_TOKEN_TTL_SECONDS = (10, 86_400)
REFRESH_TOKEN_TTL_SECONDS = (60, 366 * 86_400)
MAX_GRACE_SECONDS = 30 * 86_400
# A deleted client's tokens are revoked up to this long after the deletion too: a token
# request that authenticated the client just before it was deleted may issue its token a
# moment after (client ids are never reused, so nobody else's tokens are caught).
TOKENS_IN_FLIGHT_SECONDS = 60
ASSERTION_PRUNE_SECONDS = 60
MAX_JTI_LENGTH = 128  # stored as is up to this; longer or odd ones as a digest
UPDATABLE = ("name", "grant_types", "redirect_uris", "scopes", "audiences", "token_format",
             "auth_method", "access_token_ttl_seconds", "refresh_token_ttl_seconds", "jwks",
             "refresh_token_idle_seconds", "pkce_required", "dpop_bound_access_tokens",
             "require_pushed_authorization_requests", "post_logout_redirect_uris")
# Client field names as the wire spells them, for error messages.
_WIRE = {"auth_method": "token_endpoint_auth_method"}


class ClientSecretHasher:
    """Hashes client secrets into their stored, versioned form: `0x01 || HMAC-SHA-256`."""

    __slots__ = ("_pepper",)

    def __init__(self, secret_key: bytes) -> None:
        self._pepper = derive_subkey(secret_key, "keyplane client-secret v1")

    def __repr__(self) -> str:
        return "ClientSecretHasher(<pepper>)"

    def hash(self, secret: str) -> bytes:
        return b"\x01" + hmac.new(self._pepper, secret.encode("utf-8", "surrogatepass"),
                                  hashlib.sha256).digest()


# Compared against when a client has no such hash, so every check does the same work.
_NO_HASH = b"\x01" + bytes(32)


@dataclass(frozen=True, slots=True)
class ClientFields:
    """A client's settings as asked for, before `check_client` resolves defaults. `None`
    for `type`, `grant_types` or `auth_method` asks for the default."""

    name: str
    type: str | None = None
    grant_types: tuple[str, ...] | None = None
    redirect_uris: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    token_format: str = "jwt"
    auth_method: str | None = None
    access_token_ttl_seconds: int | None = None
    refresh_token_ttl_seconds: int | None = None
    jwks: dict[str, Any] | None = None
    refresh_token_idle_seconds: int | None = None
    pkce_required: bool = True
    dpop_bound_access_tokens: bool = False
    require_pushed_authorization_requests: bool = False
    post_logout_redirect_uris: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """A client with its stored secret hashes: what `check_secret` compares against."""

    client: Client
    secret_hash: bytes | None
    previous_secret_hash: bytes | None
    previous_secret_expires_at: datetime | None

    def __repr__(self) -> str:
        return f"ClientCredentials(id={self.client.id!r})"


class ClientRepository(Protocol):
    """What clients need from storage. Every write takes the audit event that records it
    and writes both in one transaction."""

    async def insert(self, client: Client, secret_hash: bytes | None, event: AuditEvent) -> None: ...

    async def get(self, client_id: str) -> Client:
        """Raises NotFound."""
        ...

    async def credentials(self, client_id: str) -> ClientCredentials | None:
        """The token endpoint's lookup: one primary-key read."""
        ...

    async def page(self, *, after: str | None, limit: int) -> list[Client]: ...

    async def update(self, client: Client, event: AuditEvent, *, clear_secret: bool) -> Client:
        """Writes the client's settings (and with `clear_secret` forgets its secrets);
        raises NotFound."""
        ...

    async def roll_secret(self, client_id: str, secret_hash: bytes, secret_start: str,
                          previous_expires_at: datetime | None, at: datetime,
                          event: AuditEvent) -> Client:
        """Makes `secret_hash` current; the current one stays valid until
        `previous_expires_at` (None: at once). Raises NotFound, or Conflict when the client
        no longer authenticates with a secret."""
        ...

    async def delete(self, client_id: str, event: AuditEvent, *, revoked_until: datetime,
                     tokens_expire_by: datetime) -> None:
        """Deletes the client with its assertion records, opaque tokens and refresh token
        families, and revokes every access token it was issued at or before `revoked_until`
        (a deny-list entry of the whole client, kept until `tokens_expire_by`); raises
        NotFound."""
        ...

    async def use_jti(self, client_id: str, jti: str, expires_at: datetime, now: datetime) -> bool:
        """Records `jti` until `expires_at`; False when it is recorded and unexpired at `now`."""
        ...

    async def prune_assertions(self, now: datetime) -> int:
        """Forgets the assertion records expired at `now`; returns how many."""
        ...


def check_client(fields: ClientFields) -> ClientFields:
    """`fields` with defaults resolved and lists de-duplicated (order kept: the first
    audience is the default `aud`); raises Invalid naming every field that breaks a rule."""
    errors = _Errors()
    if problem := text_error(fields.name):
        errors.bad("name", problem)
    kind = _client_type(fields, errors)
    method = _auth_method(fields, kind, errors)
    grants = _grant_types(fields, kind, errors)
    redirect_uris = errors.strings("redirect_uris", fields.redirect_uris, redirect_uri_error)
    if GRANT_AUTHORIZATION_CODE in grants and not redirect_uris:
        errors.bad("redirect_uris", "at least one redirect URI is required for authorization_code")
    # The rules of redirect URIs (https, loopback http, private-use schemes; no fragment).
    post_logout_redirect_uris = errors.strings("post_logout_redirect_uris",
                                               fields.post_logout_redirect_uris, redirect_uri_error)
    if post_logout_redirect_uris and GRANT_AUTHORIZATION_CODE not in grants:
        errors.bad("post_logout_redirect_uris",
                   "only a client of the authorization_code grant logs users in (and out)")
    scopes = errors.strings("scopes", fields.scopes, scope_error)
    audiences = errors.strings("audiences", fields.audiences, resource_uri_error)
    _check_tokens(fields, errors)
    _check_requests(fields, kind, grants, errors)
    _check_jwks(fields, method, errors)
    if errors:
        raise Invalid(errors)
    return dataclasses.replace(fields, type=kind, auth_method=method, grant_types=grants,
                               redirect_uris=redirect_uris, scopes=scopes, audiences=audiences,
                               post_logout_redirect_uris=post_logout_redirect_uris)


class _Errors(list[FieldError]):
    """The rules `check_client` found broken, named as the wire names the fields."""

    def bad(self, field: str, message: str) -> None:
        self.append(FieldError(_WIRE.get(field, field), message))

    def strings(self, field: str, value: object, rule: Callable[[object], str | None]) -> tuple[str, ...]:
        """A list of strings, each item checked where it was sent (so `[i]` names it), then
        duplicates dropped."""
        if not isinstance(value, (tuple, list)):
            self.bad(field, "must be a list")
            return ()
        for i, item in enumerate(value):
            problem = rule(item)
            if problem:
                self.bad(f"{field}[{i}]", problem)
        return tuple(dict.fromkeys(item for item in value if isinstance(item, str)))


def _client_type(fields: ClientFields, errors: _Errors) -> str:
    """Given, or public for a client that does not authenticate, else confidential."""
    if fields.type is None:
        return "public" if fields.auth_method == "none" else "confidential"
    if fields.type not in ("confidential", "public"):
        errors.bad("type", "must be confidential or public")
    return fields.type


def _auth_method(fields: ClientFields, kind: str, errors: _Errors) -> str:
    """Given, or the type's default; a public client has none, a confidential one one."""
    method = fields.auth_method
    if method is None:
        return "none" if kind == "public" else "client_secret_basic"
    if method not in AUTH_METHODS:
        errors.bad("auth_method", f"must be one of {', '.join(AUTH_METHODS)}")
    elif kind == "public" and method != "none":
        errors.bad("auth_method", "a public client holds no credentials: its method must be none")
    elif kind == "confidential" and method == "none":
        errors.bad("auth_method", "a confidential client must authenticate: use client_secret_basic, "
                                  "client_secret_post or private_key_jwt")
    return method


def _grant_types(fields: ClientFields, kind: str, errors: _Errors) -> tuple[str, ...]:
    """Given (at least one), or the type's default; never client_credentials for a public
    client."""
    grants: tuple[str, ...]
    if fields.grant_types is None:
        grants = (GRANT_AUTHORIZATION_CODE,) if kind == "public" else (GRANT_CLIENT_CREDENTIALS,)
    else:
        grants = errors.strings("grant_types", fields.grant_types, _grant_type_error)
        if not fields.grant_types:
            errors.bad("grant_types", f"name at least one of {', '.join(GRANT_TYPES)}")
    if kind == "public" and GRANT_CLIENT_CREDENTIALS in grants:
        errors.bad("grant_types", "a public client cannot use client_credentials: it has no "
                                  "credentials to prove who it is (RFC 6749 §4.4)")
    return grants


def _check_tokens(fields: ClientFields, errors: _Errors) -> None:
    """The token format and the lifetimes, each within its bounds."""
    if fields.token_format not in TOKEN_FORMATS:
        errors.bad("token_format", "must be jwt or opaque")
    for field, (low, high) in (("access_token_ttl_seconds", ACCESS_TOKEN_TTL_SECONDS),
                               ("refresh_token_ttl_seconds", REFRESH_TOKEN_TTL_SECONDS),
                               ("refresh_token_idle_seconds", REFRESH_TOKEN_TTL_SECONDS)):
        ttl = getattr(fields, field)
        if ttl is not None and (type(ttl) is not int or not low <= ttl <= high):
            errors.bad(field, f"must be an integer from {low} to {high}")


def _check_requests(fields: ClientFields, kind: str, grants: tuple[str, ...], errors: _Errors) -> None:
    """The flags on how the client makes requests: DPoP, pushed authorization requests
    (only with authorization_code), PKCE (always for a public client)."""
    for field in ("dpop_bound_access_tokens", "require_pushed_authorization_requests"):
        if type(getattr(fields, field)) is not bool:
            errors.bad(field, "must be true or false")
    if fields.require_pushed_authorization_requests is True \
            and GRANT_AUTHORIZATION_CODE not in grants:
        errors.bad("require_pushed_authorization_requests",
                   "only a client of the authorization_code grant makes authorization requests")
    if type(fields.pkce_required) is not bool:
        errors.bad("pkce_required", "must be true or false")
    elif kind == "public" and not fields.pkce_required:
        errors.bad("pkce_required", "a public client always uses PKCE: it has no secret to bind its "
                                    "codes to (RFC 9700 §2.1.1)")


def _check_jwks(fields: ClientFields, method: str, errors: _Errors) -> None:
    """A JWKS exactly for a private_key_jwt client, by the one JWK rule."""
    if fields.jwks is not None:
        if method != "private_key_jwt":
            errors.bad("jwks", "only a private_key_jwt client has a JWKS; send null to remove it")
        else:
            errors.extend(jwks_errors(fields.jwks))
    elif method == "private_key_jwt":
        errors.bad("jwks", "private_key_jwt needs the client's public keys as a JWKS: {\"keys\": [...]}")


_MATCHED_KEPT = 1_000  # as many as the SQLite store keeps credentials (store/clients.py)


class ClientService:
    def __init__(self, clients: ClientRepository, hasher: ClientSecretHasher, clock: Clock) -> None:
        self._clients = clients
        self._hasher = hasher
        self._clock = clock
        self._next_prune_at: datetime | None = None
        # Secrets that were a client's current one, by SHA-256 of (client id, secret), with
        # the credentials they matched: while the store hands back that very object (the
        # SQLite store keeps it until any commit elsewhere: a roll, an update, a delete), the
        # same secret matches again without the checksum and the HMAC. Exact by identity; a
        # store that reads afresh each time (PostgreSQL) never matches, and a previous
        # secret in its grace period is checked every time (its end is a time, not a commit).
        self._matched: dict[bytes, ClientCredentials] = {}

    async def create_client(self, actor: Actor, fields: ClientFields) -> IssuedClient:
        """Register a client; a confidential client with a secret method gets a secret,
        which exists in clear only in the answer. Raises Invalid."""
        valid = check_client(fields)
        now = self._clock.now()
        secret = generate_key(SECRET_PREFIX) if valid.auth_method in SECRET_METHODS else None
        client = Client(
            id=new_id("cli", now), name=valid.name, type=cast(Any, valid.type),
            grant_types=cast(tuple[str, ...], valid.grant_types), redirect_uris=valid.redirect_uris,
            scopes=valid.scopes, audiences=valid.audiences, token_format=cast(Any, valid.token_format),
            auth_method=cast(Any, valid.auth_method),
            access_token_ttl_seconds=valid.access_token_ttl_seconds,
            refresh_token_ttl_seconds=valid.refresh_token_ttl_seconds, jwks=valid.jwks,
            secret_start=display_start(secret) if secret else None, created_at=now, updated_at=now,
            refresh_token_idle_seconds=valid.refresh_token_idle_seconds,
            pkce_required=valid.pkce_required,
            dpop_bound_access_tokens=valid.dpop_bound_access_tokens,
            require_pushed_authorization_requests=valid.require_pushed_authorization_requests,
            post_logout_redirect_uris=valid.post_logout_redirect_uris)
        event = AuditEvent.of(actor, events.CLIENT_CREATE, client.id, now, name=client.name,
                              type=client.type, grant_types=list(client.grant_types),
                              token_endpoint_auth_method=client.auth_method,
                              secret_start=client.secret_start)
        await self._clients.insert(client, self._hasher.hash(secret) if secret else None, event)
        return IssuedClient(client=client, secret=secret)

    async def get_client(self, client_id: str) -> Client:
        """Raises NotFound, for an id of any shape."""
        if not is_id(client_id, "cli"):
            raise NotFound(f"no client {client_id}")
        return await self._clients.get(client_id)

    async def list_clients(self, *, after: str | None, limit: int) -> Page[Client]:
        """Clients, oldest first."""
        return page_of(await self._clients.page(after=after, limit=limit + 1), limit, lambda c: c.id)

    async def update_client(self, actor: Actor, client_id: str, changes: Mapping[str, Any]) -> Client:
        """Apply `changes` (Client field names but `type`), checking the result as a whole.
        A client that stops using a secret method loses its secrets; one that starts has
        none until `roll_secret`. Raises NotFound, Invalid."""
        if "type" in changes:
            raise Invalid.field("type", "a client's type cannot change; register a new client")
        unknown = sorted(set(changes) - set(UPDATABLE))
        if unknown:
            raise Invalid([FieldError(_WIRE.get(f, f), "cannot be changed") for f in unknown])
        client = await self.get_client(client_id)
        current = {f: getattr(client, f) for f in UPDATABLE}
        valid = check_client(ClientFields(**{**current, **changes, "type": client.type}))
        now = self._clock.now()
        clear_secret = valid.auth_method not in SECRET_METHODS and client.secret_start is not None
        updated = dataclasses.replace(
            client, **{f: getattr(valid, f) for f in UPDATABLE}, updated_at=now,
            secret_start=None if clear_secret else client.secret_start)
        event = AuditEvent.of(actor, events.CLIENT_UPDATE, client.id, now,
                              fields=sorted(_WIRE.get(f, f) for f in changes),
                              **({"secret_removed": True} if clear_secret else {}))
        return await self._clients.update(updated, event, clear_secret=clear_secret)

    async def delete_client(self, actor: Actor, client_id: str) -> None:
        """Deletes the client and ends every token it holds at once: refresh tokens and
        opaque access tokens are deleted, JWTs deny-listed (introspection refuses them, and
        verifiers following `GET /v1/revocations` within their polling interval). Raises
        NotFound."""
        client = await self.get_client(client_id)
        now = self._clock.now()
        # Revoked: every token issued up to a little after now (requests in flight). How
        # long those may live: the ceiling its own lifetime and the server default are both
        # held to, not today's values, which a PATCH or a restart with another setting may
        # have shortened after longer-lived tokens were issued.
        revoked_until = now + timedelta(seconds=TOKENS_IN_FLIGHT_SECONDS)
        tokens_expire_by = revoked_until + timedelta(seconds=ACCESS_TOKEN_TTL_SECONDS[1])
        event = AuditEvent.of(actor, events.CLIENT_DELETE, client.id, now, name=client.name,
                              tokens_revoked_until=tokens_expire_by.isoformat())
        await self._clients.delete(client.id, event, revoked_until=revoked_until,
                                   tokens_expire_by=tokens_expire_by)

    async def roll_secret(self, actor: Actor, client_id: str, *, grace_seconds: int = 0) -> IssuedClient:
        """A new secret, shown only in the answer; the current one keeps working for
        `grace_seconds`. Raises NotFound, Invalid, or Conflict for a client without a
        secret method."""
        if type(grace_seconds) is not int or not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
            raise Invalid.field("grace_seconds", f"must be an integer from 0 to {MAX_GRACE_SECONDS}")
        client = await self.get_client(client_id)
        if client.auth_method not in SECRET_METHODS:
            raise Conflict(f"client {client.id} authenticates with {client.auth_method}: it has no "
                           "secret to roll")
        now = self._clock.now()
        secret = generate_key(SECRET_PREFIX)
        start = display_start(secret)
        keeps_old = grace_seconds > 0 and client.secret_start is not None
        previous_expires_at = now + timedelta(seconds=grace_seconds) if keeps_old else None
        event = AuditEvent.of(actor, events.CLIENT_SECRET_ROLL, client.id, now,
                              grace_seconds=grace_seconds, secret_start=start,
                              previous_secret_start=client.secret_start)
        rolled = await self._clients.roll_secret(client.id, self._hasher.hash(secret), start,
                                                 previous_expires_at, now, event)
        return IssuedClient(client=rolled, secret=secret)

    async def check_secret(self, client_id: str, secret: str) -> Client | None:
        """The client when `secret` is its current secret, or its previous one within the
        grace period, and it authenticates with a secret; None otherwise.

        A malformed secret (or a wrong checksum) is None before any lookup. Otherwise the
        secret is hashed first and both stored hashes are always compared, in constant
        time, so an unknown client and a wrong secret cost the same work. A secret that
        matched its client's current hash before is matched again by identity while the
        client is unchanged (`_matched`): only a right secret takes that path.
        """
        seen = hashlib.sha256(f"{client_id}\0{secret}".encode("utf-8", "surrogatepass")).digest()
        matched = self._matched.get(seen)
        if matched is not None:
            if await self._clients.credentials(client_id) is matched:
                return matched.client
            self._matched.pop(seen, None)  # a concurrent request may have dropped it already
        parsed = parse_key(secret)
        if parsed is None or parsed.prefix != SECRET_PREFIX:
            return None
        digest = self._hasher.hash(secret)
        found = await self._clients.credentials(client_id) if is_id(client_id, "cli") else None
        if found is None:
            hmac.compare_digest(digest, _NO_HASH)
            hmac.compare_digest(digest, _NO_HASH)
            return None
        current = hmac.compare_digest(digest, found.secret_hash or _NO_HASH)
        previous = hmac.compare_digest(digest, found.previous_secret_hash or _NO_HASH)
        expires_at = found.previous_secret_expires_at
        in_grace = expires_at is not None and self._clock.now() < expires_at
        if found.secret_hash is not None and (current or (previous and in_grace)) \
                and found.client.auth_method in SECRET_METHODS:
            if current:
                if len(self._matched) >= _MATCHED_KEPT:
                    del self._matched[next(iter(self._matched))]  # the oldest
                self._matched[seen] = found
            return found.client
        return None

    async def use_assertion_jti(self, client_id: str, jti: str, expires_at: datetime) -> bool:
        """RFC 7523 §3: True the first time a client presents `jti`; False while an earlier
        assertion with it has not expired. The caller checks `expires_at` is near; records
        are kept until it passes, and expired ones are pruned about once a minute."""
        if not is_id(client_id, "cli"):
            return False
        now = self._clock.now()
        first = await self._clients.use_jti(client_id, _jti_key(jti), expires_at, now)
        if self._next_prune_at is None or now >= self._next_prune_at:
            self._next_prune_at = now + timedelta(seconds=ASSERTION_PRUNE_SECONDS)
            await self._clients.prune_assertions(now)
        return first


def _grant_type_error(grant: object) -> str | None:
    if isinstance(grant, str) and grant in REFUSED_GRANTS:
        return REFUSED_GRANTS[grant]
    if grant not in GRANT_TYPES:
        return f"unsupported grant type; one of {', '.join(GRANT_TYPES)}"
    return None


def _jti_key(jti: str) -> str:
    """`jti` as stored: itself when short printable ASCII, else a digest that fits the
    column and any database (no NUL, no lone surrogate, at most 200 characters)."""
    if 0 < len(jti) <= MAX_JTI_LENGTH and jti.isascii() and jti.isprintable():
        return jti
    return "sha256:" + hashlib.sha256(jti.encode("utf-8", "surrogatepass")).hexdigest()

