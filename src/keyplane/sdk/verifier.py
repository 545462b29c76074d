"""`Verifier`: what an API calls on every request to learn who is calling (docs/sdk.md).

    verifier = Verifier(issuer="https://auth.example.com", audience="https://api.example.com",
                        api_id="api_...", root_key="...")
    principal = await verifier.verify(request.headers.get("authorization"))

The credential's shape decides the path: three dot-separated segments are a JWT access
token (checked offline), `kp_at_...` an opaque token (introspection), anything else an API
key (checksum offline, then keyplane's answer, cached until keyplane says the key changed).
`verify` and `verify_sync` share one I/O-free core (`_offline`); what needs I/O
(`_resolve`) runs on the verifier's background loop (sdk/engine.py), or, in embedded mode
with a `Services` object, on the caller's loop against the store directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self

from joserfc.errors import JoseError

from keyplane.clock import Clock
from keyplane.errors import InvalidToken
from keyplane.jose.jwe import decrypt_nested, decryption_key
from keyplane.jose.jws import b64url_decode, decode_json_object
from keyplane.jose.jwt import decode_jwt
from keyplane.keys.permissions import Grants, parse_query
from keyplane.sdk import errors
from keyplane.sdk.background import Background
from keyplane.sdk.credentials import JWE as _JWE
from keyplane.sdk.credentials import JWT as _JWT
from keyplane.sdk.credentials import KEY as _KEY
from keyplane.sdk.credentials import OPAQUE as _OPAQUE
from keyplane.sdk.credentials import credential_of
from keyplane.sdk.dpop import ProofChecker
from keyplane.sdk.engine import Engine
from keyplane.sdk.introspection import IntrospectionCache, principal_of_introspection
from keyplane.sdk.jwks import JwksCache
from keyplane.sdk.keys import (
    KeyCache,
    cache_key,
    cacheable,
    expires_at_of,
    principal_of,
    ratelimit_states,
)
from keyplane.sdk.principal import ACCESS_TOKEN, Principal
from keyplane.sdk.remote import ServiceUnavailable
from keyplane.sdk.revocations import RevocationList

if TYPE_CHECKING:
    import httpx

    from keyplane.config import Settings
    from keyplane.services import Services

log = logging.getLogger("keyplane.sdk")

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1

_KEY_REFUSALS = {
    "MALFORMED": "the API key is malformed",
    "NOT_FOUND": "unknown API key",
    "EXPIRED": "the API key has expired",
    "REVOKED": "the API key was revoked",
    "DISABLED": "the API key is disabled",
    "FORBIDDEN_IP": "this API key may not be used from this address",
    "INSUFFICIENT_PERMISSIONS": "the API key lacks a permission",
}



class Verifier:
    """Verifies API keys and access tokens for one API; returns a `Principal` or raises
    `AuthError` (see sdk/errors.py for the statuses and headers).

    Remote mode (the usual): `issuer` (discovery and JWKS come from it; also the required
    `iss`), `audience` (the required `aud`; without it tokens are refused), `api_id` (keys
    must belong to it; without it keys are refused), `root_key` (a root key holding
    `keys.verify`, `tokens.read` and `tokens.introspect`), `url` (where to reach the service
    when it is not the issuer URL). Embedded mode: `services=` (a running `Services`, used
    on the caller's loop; `verify` only) or `settings=` (the verifier opens the store
    itself on its background loop; `verify` and `verify_sync`).

    Tuning (defaults in brackets; staleness bounds in docs/sdk.md): `leeway_seconds` [5]
    for `exp`/`nbf`/`iat`; `revocation_poll_seconds` [5], `revocation_max_staleness_seconds`
    [60], `follow_revocations` [True]; `jwks_refetch_interval_seconds` [60] (the most often
    an unknown `kid` can cause a fetch), `jwks_max_age_seconds` [3600]; `key_cache_seconds`
    [30], `key_cache_size` [10000]; `introspection_cache_seconds` [10]; `timeout_seconds`
    [2] for every call to keyplane; `algorithms` (narrows the JWKS's); `realm` for the
    `WWW-Authenticate` challenge; `clock` (tests); `dpop_nonce_key` (bytes shared by the
    API's processes: DPoP proofs must then carry a nonce the API issued, sdk/dpop.py);
    `decryption_key` (the API's private key — a JWK dict, PEM or joserfc key — when it is
    registered as a resource server: its tokens arrive encrypted, jose/jwe.py).
    """

    def __init__(
        self, issuer: str | None = None, audience: str | None = None, api_id: str | None = None,
        root_key: str | None = None, *, url: str | None = None, services: Services | None = None,
        settings: Settings | None = None, algorithms: Iterable[str] | None = None,
        realm: str | None = None, leeway_seconds: float = 5.0,
        revocation_poll_seconds: float = 5.0, revocation_max_staleness_seconds: float = 60.0,
        follow_revocations: bool = True, jwks_refetch_interval_seconds: float = 60.0,
        jwks_max_age_seconds: float = 3600.0, key_cache_seconds: float = 30.0,
        key_cache_size: int = 10_000, introspection_cache_seconds: float = 10.0,
        timeout_seconds: float = 2.0,
        clock: Clock | None = None, transport: httpx.AsyncBaseTransport | None = None,
        dpop_nonce_key: bytes | None = None, decryption_key: Any = None,
    ) -> None:
        if services is not None and settings is not None:
            raise ValueError("give services= or settings=, not both")
        self._embedded = services
        self._settings = settings
        self._remote_mode = services is None and settings is None
        embedded = services is not None or settings is not None
        if embedded:
            issuer = issuer or (services.tokens.issuer if services is not None
                                else settings.resolved_issuer if settings is not None else None)
        elif issuer is None:
            # The issuer is what `iss` must equal and what discovery must confirm: never
            # guessed from where the service is reached.
            raise ValueError("a remote verifier needs issuer=")
        elif follow_revocations and root_key is None and audience is not None:
            raise ValueError(
                "following the JWT revocation feed needs a root key with tokens.read; pass "
                "root_key=..., or follow_revocations=False to honour revoked JWTs until they expire")
        self.issuer = issuer.rstrip("/") if issuer else None
        self.audience = audience
        self.api_id = api_id
        self.realm = realm
        self.leeway_seconds = leeway_seconds
        self.follow_revocations = follow_revocations and not embedded
        self._timeout = timeout_seconds
        # Without a test clock, time.time(): a datetime per request costs 0.4 µs.
        self._now = time.time if clock is None else (lambda: clock.now().timestamp())
        self.jwks = JwksCache(algorithms=frozenset(algorithms) if algorithms is not None else None,
                              refetch_interval_seconds=jwks_refetch_interval_seconds,
                              max_age_seconds=jwks_max_age_seconds)
        self.revocations = RevocationList(poll_seconds=revocation_poll_seconds,
                                          max_staleness_seconds=revocation_max_staleness_seconds)
        self.keys = KeyCache(ttl_seconds=key_cache_seconds, max_entries=key_cache_size)
        self.introspections = IntrospectionCache(ttl_seconds=introspection_cache_seconds,
                                                 max_entries=key_cache_size)
        self.remote_key_checks = 0
        # Tokens already verified, by SHA-256: (principal, usable until, jti, the key set
        # that verified it). A hit still checks expiry and the revocation set; a new key set
        # (rotation, a key withdrawn) invalidates every entry.
        self._verified: dict[bytes, tuple[Principal, float, Any, object]] = {}
        self._verified_max = key_cache_size
        self._verified_lock = threading.Lock()
        self._background = Background(
            url=(url or issuer or "").rstrip("/"), issuer=self.issuer, root_key=root_key,
            timeout_seconds=timeout_seconds, transport=transport, api_id=api_id, audience=audience,
            follow_revocations=self.follow_revocations, settings=settings, jwks=self.jwks,
            revocations=self.revocations, keys=self.keys, now=self._now)
        self._proofs = ProofChecker(realm=realm, nonce_key=dpop_nonce_key)
        self._decryption_key = _decryption_key(decryption_key)
        self._decrypted: dict[bytes, str] = {}
        self._engine = Engine(name="keyplane-verifier", on_start=self._background.start,
                              on_stop=self._background.stop, on_fork=self._forked)

    # -- public ------------------------------------------------------------------------

    async def verify(self, authorization_header: str | None, *, x_api_key: str | None = None,
                     ip: str | None = None, scopes: Iterable[str] | None = None,
                     permissions: str | None = None, method: str | None = None,
                     url: str | None = None, dpop: str | None = None) -> Principal:
        """The caller of this request, or AuthError.

        `authorization_header` is the `Authorization` value as received; `x_api_key` the
        `X-API-Key` header, if the API accepts keys there; `ip` the end client's address
        (for keys with an IP allow-list). `scopes` must all be granted and `permissions`
        (a permission query, `"a AND (b OR c)"`) must hold: both are checked against a
        token's scopes and a key's permissions (403 `insufficient_scope` otherwise).
        `method`, `url` and `dpop` (the request's method, full URL and `DPoP` header) prove
        a DPoP-bound token (RFC 9449 §7); such a token is refused without them.

        `ip` counts only when it is an IP address (a test client's "testclient" is none).

        Raises `ServiceRejected` (sdk/errors.py), not an AuthError, when keyplane answers a
        4xx to the verifier's own request: its root key or configuration is wrong.
        """
        now = self._now()
        principal = self._cached_key(authorization_header, x_api_key, ip, scopes, permissions, now)
        if principal is not None:
            return principal
        try:
            kind, credential = self._credential(authorization_header, x_api_key)
            presented = credential
            if kind == _JWE:
                kind, credential = _JWT, self._decrypt(credential)
            principal = self._offline(kind, credential, ip, now)
            if principal is None:
                if self._embedded is not None:
                    principal = await self._resolve(kind, credential, ip)
                else:
                    principal = await self._engine.run_async(self._resolve(kind, credential, ip))
            self._check_binding(principal, presented, authorization_header, method, url, dpop, now)
        except _UNREADABLE as exc:
            raise self._unreadable(exc) from None
        self._authorize(principal, scopes, permissions, now)
        return principal

    def verify_sync(self, authorization_header: str | None, *, x_api_key: str | None = None,
                    ip: str | None = None, scopes: Iterable[str] | None = None,
                    permissions: str | None = None, method: str | None = None,
                    url: str | None = None, dpop: str | None = None) -> Principal:
        """`verify` for synchronous code (Flask, Django, any WSGI app); thread-safe."""
        if self._embedded is not None:
            raise RuntimeError("a verifier embedded with services= answers `await verify(...)` "
                               "only; build it with settings= for verify_sync")
        now = self._now()
        principal = self._cached_key(authorization_header, x_api_key, ip, scopes, permissions, now)
        if principal is not None:
            return principal
        try:
            kind, credential = self._credential(authorization_header, x_api_key)
            presented = credential
            if kind == _JWE:
                kind, credential = _JWT, self._decrypt(credential)
            principal = self._offline(kind, credential, ip, now)
            if principal is None:
                principal = self._engine.run_sync(self._resolve(kind, credential, ip),
                                                  timeout=4 * self._timeout + 1)
            self._check_binding(principal, presented, authorization_header, method, url, dpop, now)
        except TimeoutError:
            raise errors.unavailable("keyplane did not answer in time") from None
        except _UNREADABLE as exc:
            raise self._unreadable(exc) from None
        self._authorize(principal, scopes, permissions, now)
        return principal

    def start(self) -> None:
        """Start the background work now (else the first verification does): the JWKS, the
        revocation feed, the key change stream."""
        if self._embedded is None:
            self._engine.loop  # noqa: B018 - starting it is the point

    def wait_ready(self, timeout: float = 10.0) -> bool:
        """Start, and wait until keys can be cached and JWTs checked (tests, warm-up)."""
        self.start()
        future = self._engine.submit(self._background.ready(timeout))
        return future.result(timeout + 1)

    def close(self) -> None:
        """Stop the background thread and close connections (idempotent)."""
        self._engine.stop()

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    def stats(self) -> dict[str, Any]:
        """Counters for tests and operations (no secrets)."""
        return {"key_cache_enabled": self.keys.enabled, "cached_keys": len(self.keys),
                "remote_key_checks": self.remote_key_checks, "jwks_fetches": self.jwks.fetches,
                "revocation_polls": self.revocations.polls, "revoked_jtis": len(self.revocations),
                "revoked_clients": len(self.revocations.clients),
                "verified_tokens": len(self._verified)}

    def _forked(self) -> None:
        # In a child process: a lock may have been held by one of the parent's threads, and
        # the parent's loop, client and tasks do not exist here.
        self._verified_lock = threading.Lock()
        self._verified.clear()
        self._background.forked()

    def _unreadable(self, exc: BaseException) -> errors.AuthError:
        # Whatever a caller sends is answered: a credential no decoder can read (nested
        # 3000 deep, lone surrogates...) is an invalid token, never an exception for the app.
        log.info("refused an unreadable credential (%s)", type(exc).__name__)
        return errors.invalid_token("the credential could not be read", self.realm)

    # -- the I/O-free core ---------------------------------------------------------------

    def _credential(self, authorization: str | None, x_api_key: str | None) -> tuple[int, str]:
        return credential_of(authorization, x_api_key, realm=self.realm,
                             tokens=self.audience is not None, keys=self.api_id is not None)

    def _cached_key(self, authorization: str | None, x_api_key: str | None, ip: str | None,
                    scopes: Iterable[str] | None, permissions: str | None,
                    now: float) -> Principal | None:
        """A cached API key's principal, authorized, found before the credential's shape is
        read: the cache holds only keys whose shape and checksum were checked on the way in,
        keyed by a hash of the exact string, so a hit needs neither check. The common case of
        every API behind the middleware: ~6 µs a request where reading the header's
        credential first made it ~17 (in process; KeyplaneMiddleware 0.78 → 0.86× an
        unauthenticated endpoint over HTTP, 2026-12-07). Anything else — a token, a second
        credential, a header spelt otherwise, a key not cached — is None here and read in
        full by `_credential`."""
        if not self._remote_mode:
            return None
        if x_api_key is None:
            if authorization is None or authorization[:7] != "Bearer ":
                return None
            credential = authorization[7:]
        elif authorization is None:
            credential = x_api_key
        else:
            return None
        # A key is ASCII with no dot: a JWT (or what cannot be hashed as sent) is not hashed
        # here for nothing, it is read in full.
        if "." in credential or not credential.isascii():
            return None
        principal = self.keys.get(cache_key(credential, ip), now)
        if principal is not None:
            self._authorize(principal, scopes, permissions, now)
        return principal

    def _offline(self, kind: int, credential: str, ip: str | None, now: float) -> Principal | None:
        """The principal when no I/O is needed; None when `_resolve` must run."""
        if not self._remote_mode:
            return None
        if kind == _KEY:
            return self.keys.get(cache_key(credential, ip), now)
        if kind == _OPAQUE:
            return self.introspections.get(IntrospectionCache.key(credential), now)
        revocations = self.revocations
        follow = self.follow_revocations
        if not self.jwks.loaded or (follow and now - revocations.polled_at > revocations.max_staleness_seconds):
            return None
        digest = hashlib.sha256(credential.encode()).digest()
        hit = self._verified.get(digest)
        if hit is not None and now < hit[1] and hit[3] is self.jwks.keys:
            if follow and (hit[2] in revocations.jtis
                           or (revocations.clients and revocations.revokes_client_of(hit[0].claims))):
                raise errors.invalid_token("the access token was revoked", self.realm)
            return hit[0]
        principal = self._check_jwt(credential, now, refetch_possible=True)
        if principal is not None:
            self._remember(digest, principal)
        return principal

    def _remember(self, digest: bytes, principal: Principal) -> None:
        claims = principal.claims
        exp = claims.get("exp")
        if type(exp) is not int:
            return
        verified = self._verified
        if len(verified) >= self._verified_max:
            with self._verified_lock:  # iterating while another thread inserts would raise
                while len(verified) >= self._verified_max:
                    verified.pop(next(iter(verified)))  # the oldest: dicts keep insertion order
        # Usable exactly as long as `decode_jwt` would accept it: exp + leeway.
        verified[digest] = (principal, exp + self.leeway_seconds, claims.get("jti"), self.jwks.keys)

    def _check_jwt(self, token: str, now: float, *, refetch_possible: bool) -> Principal | None:
        keys = self.jwks.keys
        try:
            claims = decode_jwt(token, keys, algorithms=self.jwks.algorithms, typ=ACCESS_TOKEN_TYPE,
                                issuer=self.issuer, audience=self.audience, now=now,
                                leeway_seconds=self.leeway_seconds)
        except InvalidToken as exc:
            if refetch_possible and _unknown_kid(token, keys):
                return None  # `_resolve` decides whether this kid is worth a fetch
            raise errors.invalid_token(_token_problem(exc), self.realm) from None
        revocations = self.revocations
        if self.follow_revocations and (claims.get("jti") in revocations.jtis or (
                revocations.clients and revocations.revokes_client_of(claims))):
            raise errors.invalid_token("the access token was revoked", self.realm)
        return _token_principal(claims)

    def check_jwt(self, token: str, now: float) -> Principal:
        """The Principal of a JWT checked with the keys in hand (no fetch); or AuthError."""
        principal = self._check_jwt(token, now, refetch_possible=False)
        assert principal is not None
        return principal

    def _decrypt(self, token: str) -> str:
        """The signed JWT inside an encrypted access token (kept: decrypting costs more
        than verifying). Raises AuthError."""
        digest = hashlib.sha256(token.encode()).digest()
        inner = self._decrypted.get(digest)
        if inner is not None:
            return inner
        if self._decryption_key is None:
            raise errors.invalid_token("the access token is encrypted and this API has no "
                                       "decryption key", self.realm)
        try:
            inner = decrypt_nested(token, self._decryption_key)
        except InvalidToken as exc:
            raise errors.invalid_token(_token_problem(exc), self.realm) from None
        if len(self._decrypted) >= self._verified_max:
            with self._verified_lock:
                while len(self._decrypted) >= self._verified_max:
                    self._decrypted.pop(next(iter(self._decrypted)), None)
        self._decrypted[digest] = inner
        return inner

    def _check_binding(self, principal: Principal, credential: str, authorization: str | None,
                       method: str | None, url: str | None, dpop: str | None, now: float) -> None:
        if principal.kind != ACCESS_TOKEN:
            return
        dpop_scheme = authorization is not None and authorization[:5].lower() == "dpop "
        self._proofs.check(principal, credential, dpop_scheme=dpop_scheme, method=method, url=url,
                           proof=dpop, now=now)

    def _authorize(self, principal: Principal, scopes: Iterable[str] | None,
                   permissions: str | None, now: float) -> None:
        if not scopes and permissions is None:
            return
        is_token = principal.kind == ACCESS_TOKEN
        held = principal.scopes if is_token else principal.permissions
        grants = Grants.of(held)
        missing = [s for s in scopes or () if not (s in held if is_token else grants.covers(s))]
        if not missing and permissions is not None and not parse_query(permissions).satisfied_by(grants):
            missing = [permissions]
        if missing:
            what = "scope" if is_token else "permission"
            raise errors.insufficient_scope(f"this request needs the {what} {missing[0]}", self.realm,
                                            scopes or (), principal.ratelimits, now)

    # -- I/O -------------------------------------------------------------------------------

    async def _resolve(self, kind: int, credential: str, ip: str | None) -> Principal:
        try:
            if self._embedded is not None or self._settings is not None:
                return await self._resolve_embedded(kind, credential, ip)
            if kind == _KEY:
                return await self._remote_key(credential, ip)
            if kind == _OPAQUE:
                return await self._remote_opaque(credential)
            return await self._remote_jwt(credential)
        except ServiceUnavailable as exc:
            log.warning("keyplane is unavailable to this verifier: %s", exc)
            raise errors.unavailable("the authorization service is unavailable; try again") from None

    async def _remote_key(self, key: str, ip: str | None) -> Principal:
        remote = self._background.remote
        assert remote is not None
        ticket = self.keys.ticket()
        self.remote_key_checks += 1
        answer = await remote.verify_key(key, api_id=self.api_id, ip=ip)
        principal = self.key_answer(answer)
        if cacheable(answer) and principal.key_id is not None:
            self.keys.put(cache_key(key, ip), principal, api_id=str(answer.get("api_id")),
                          expires_at=expires_at_of(answer), ticket=ticket, now=self._now())
        return principal

    def key_answer(self, answer: dict[str, Any]) -> Principal:
        """The Principal of a `/v1/keys/verify` answer, or the AuthError it means."""
        code = answer.get("code")
        states = ratelimit_states(answer)
        now = self._now()
        if code == "VALID":
            return principal_of(answer, states)
        if code == "RATE_LIMITED":
            raise errors.rate_limited("the API key's rate limit is exhausted", states, now)
        if code == "USAGE_EXCEEDED":
            raise errors.rate_limited("the API key has no credits left", states, now)
        raise errors.invalid_token(_KEY_REFUSALS.get(str(code), "the API key is not valid"),
                                   self.realm, states, now)

    async def _remote_opaque(self, token: str) -> Principal:
        remote = self._background.remote
        assert remote is not None
        answer = await remote.introspect(token)
        now = self._now()
        principal = principal_of_introspection(answer, issuer=self.issuer, audience=self.audience,
                                               now=now)
        if principal is None:
            raise errors.invalid_token("the access token is not active for this API", self.realm)
        self.introspections.put(IntrospectionCache.key(token), principal,
                                exp=float(answer["exp"]), now=now)
        return principal

    async def _remote_jwt(self, token: str) -> Principal:
        now = self._now()
        if not self.jwks.loaded:
            await self._background.refresh_jwks(only_if_older_than=None)
        elif _unknown_kid(token, self.jwks.keys) and self.jwks.claim_refetch(now):
            await self._background.refresh_jwks(only_if_older_than=now)
        if self.follow_revocations and not self.revocations.fresh(now):
            await self._background.poll(unless_fresh=True)
            if not self.revocations.fresh(self._now()):
                raise ServiceUnavailable("the revocation feed is out of date")
        return self.check_jwt(token, self._now())

    async def _resolve_embedded(self, kind: int, credential: str, ip: str | None) -> Principal:
        from keyplane.sdk import embedded

        services = self._embedded or self._background.services
        assert services is not None
        if kind == _KEY:
            return await embedded.verify_api_key(self, services, credential, ip)
        if kind == _JWT:
            return await embedded.verify_jwt(self, services, credential, self._now())
        return await embedded.verify_opaque(self, services, credential, self._now())

_UNREADABLE = (ValueError, RecursionError, InvalidToken)
"""What decoding a hostile credential can raise below `verify`: ValueError covers
UnicodeError and msgspec's DecodeError; InvalidToken is the JOSE layer's refusal."""

_NOTHING: frozenset[str] = frozenset()
_NO_METADATA: Mapping[str, Any] = MappingProxyType({})  # shared, so read-only


def _token_principal(claims: dict[str, Any]) -> Principal:
    scope = claims.get("scope")
    client_id = claims.get("client_id")
    subject = claims.get("sub")
    # Positional, constants for the empty fields: this runs once per new token (~1 µs less).
    return Principal(ACCESS_TOKEN, subject if type(subject) is str else str(subject or ""),
                     client_id if type(client_id) is str else None, None, None,
                     frozenset(scope.split()) if type(scope) is str else _NOTHING, _NOTHING,
                     claims, _NO_METADATA, ())


def _decryption_key(value: Any) -> Any:
    if value is None:
        return None
    try:
        return decryption_key(value)
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"decryption_key is not a usable private key: {exc}") from None


def _unknown_kid(token: str, keys: Any) -> bool:
    """Whether the token's header names a kid absent from `keys` (the error path only)."""
    try:
        header = decode_json_object(b64url_decode(token.partition(".")[0]))
    except InvalidToken:
        return False
    kid = header.get("kid")
    return isinstance(kid, str) and kid not in keys


def _token_problem(exc: InvalidToken) -> str:
    # The JOSE layer's message names the failed check (for the log, and for an honest
    # caller: "expired", "aud", "alg"); never a claim value.
    return f"the access token is not valid: {exc.detail}"
