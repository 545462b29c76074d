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
import ipaddress
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self

from keyplane.clock import Clock
from keyplane.errors import InvalidToken
from keyplane.jose.jws import b64url_decode, decode_json_object
from keyplane.jose.jwt import decode_jwt
from keyplane.keys.format import parse_key
from keyplane.keys.permissions import Grants, parse_query
from keyplane.sdk import errors
from keyplane.sdk.changes import follow_changes
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
from keyplane.sdk.remote import Remote, ServiceUnavailable
from keyplane.sdk.revocations import PAGE_LIMIT, RevocationList

if TYPE_CHECKING:
    import httpx

    from keyplane.config import Settings
    from keyplane.services import Services

log = logging.getLogger("keyplane.sdk")

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1
OPAQUE_TOKEN_PREFIX = "kp_at_"
MAX_CREDENTIAL_LENGTH = 8192

_KEY_REFUSALS = {
    "MALFORMED": "the API key is malformed",
    "NOT_FOUND": "unknown API key",
    "EXPIRED": "the API key has expired",
    "REVOKED": "the API key was revoked",
    "DISABLED": "the API key is disabled",
    "FORBIDDEN_IP": "this API key may not be used from this address",
    "INSUFFICIENT_PERMISSIONS": "the API key lacks a permission",
}

_JWT, _OPAQUE, _KEY = 0, 1, 2


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
    `WWW-Authenticate` challenge; `clock` (tests).
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
        self._root_key = root_key
        self._url = (url or issuer or "").rstrip("/")
        self._timeout = timeout_seconds
        self._transport = transport
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
        self._remote: Remote | None = None
        self._opened_services: Services | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._jwks_lock: asyncio.Lock | None = None
        self._poll_lock: asyncio.Lock | None = None
        self._engine = Engine(name="keyplane-verifier", on_start=self._start_background,
                              on_stop=self._stop_background, on_fork=self._forked)

    # -- public ------------------------------------------------------------------------

    async def verify(self, authorization_header: str | None, *, x_api_key: str | None = None,
                     ip: str | None = None, scopes: Iterable[str] | None = None,
                     permissions: str | None = None) -> Principal:
        """The caller of this request, or AuthError.

        `authorization_header` is the `Authorization` value as received; `x_api_key` the
        `X-API-Key` header, if the API accepts keys there; `ip` the end client's address
        (for keys with an IP allow-list). `scopes` must all be granted and `permissions`
        (a permission query, `"a AND (b OR c)"`) must hold: both are checked against a
        token's scopes and a key's permissions (403 `insufficient_scope` otherwise).
        """
        kind, credential = self._credential(authorization_header, x_api_key)
        now = self._now()
        principal = self._offline(kind, credential, ip, now)
        if principal is None:
            if self._embedded is not None:
                principal = await self._resolve(kind, credential, ip)
            else:
                principal = await self._engine.run_async(self._resolve(kind, credential, ip))
        self._authorize(principal, scopes, permissions, now)
        return principal

    def verify_sync(self, authorization_header: str | None, *, x_api_key: str | None = None,
                    ip: str | None = None, scopes: Iterable[str] | None = None,
                    permissions: str | None = None) -> Principal:
        """`verify` for synchronous code (Flask, Django, any WSGI app); thread-safe."""
        if self._embedded is not None:
            raise RuntimeError("a verifier embedded with services= answers `await verify(...)` "
                               "only; build it with settings= for verify_sync")
        kind, credential = self._credential(authorization_header, x_api_key)
        now = self._now()
        principal = self._offline(kind, credential, ip, now)
        if principal is None:
            try:
                principal = self._engine.run_sync(self._resolve(kind, credential, ip),
                                                  timeout=4 * self._timeout + 1)
            except TimeoutError:
                raise errors.unavailable("keyplane did not answer in time") from None
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
        future = self._engine.submit(self._ready(timeout))
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
                "verified_tokens": len(self._verified)}

    # -- the I/O-free core ---------------------------------------------------------------

    def _credential(self, authorization: str | None, x_api_key: str | None) -> tuple[int, str]:
        token = None
        if authorization:
            scheme, _, rest = authorization.partition(" ")
            if scheme.lower() != "bearer":
                raise errors.no_credentials(self.realm)
            token = rest.strip()
            if not token or " " in token:
                raise errors.bad_request("the Authorization header must be 'Bearer <credential>'",
                                         self.realm)
        if x_api_key is not None:
            x_api_key = x_api_key.strip()
            if token is not None and x_api_key != token:
                # RFC 6750 §3.1: more than one method of sending a credential.
                raise errors.bad_request("send one credential: Authorization or X-API-Key", self.realm)
            if not x_api_key:
                raise errors.bad_request("X-API-Key is empty", self.realm)
            if x_api_key.count(".") == 2:
                raise errors.bad_request("X-API-Key takes API keys; send tokens as Authorization: Bearer",
                                         self.realm)
            token = x_api_key
        if token is None:
            raise errors.no_credentials(self.realm)
        if len(token) > MAX_CREDENTIAL_LENGTH:
            raise errors.invalid_token("the credential is too long", self.realm)
        if token.count(".") == 2:
            if self.audience is None:
                raise errors.invalid_token("this API does not accept access tokens", self.realm)
            return _JWT, token
        if token.startswith(OPAQUE_TOKEN_PREFIX):
            if self.audience is None:
                raise errors.invalid_token("this API does not accept access tokens", self.realm)
            if parse_key(token) is None:
                raise errors.invalid_token("the access token is malformed", self.realm)
            return _OPAQUE, token
        if parse_key(token) is None:
            # Format and checksum are checked here: a mistyped or made-up key costs no call.
            raise errors.invalid_token("the credential is neither a well-formed API key nor a token",
                                       self.realm)
        if self.api_id is None:
            raise errors.invalid_token("this API does not accept API keys", self.realm)
        return _KEY, token

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
            if follow and hit[2] in revocations.jtis:
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
        if self.follow_revocations and claims.get("jti") in self.revocations.jtis:
            raise errors.invalid_token("the access token was revoked", self.realm)
        return _token_principal(claims)

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
        assert self._remote is not None
        ticket = self.keys.ticket()
        self.remote_key_checks += 1
        answer = await self._remote.verify_key(key, api_id=self.api_id, ip=ip)
        principal = self._key_answer(answer)
        if cacheable(answer) and principal.key_id is not None:
            self.keys.put(cache_key(key, ip), principal, api_id=str(answer.get("api_id")),
                          expires_at=expires_at_of(answer), ticket=ticket, now=self._now())
        return principal

    def _key_answer(self, answer: dict[str, Any]) -> Principal:
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
        assert self._remote is not None
        answer = await self._remote.introspect(token)
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
            await self._refresh_jwks(only_if_older_than=None)
        elif _unknown_kid(token, self.jwks.keys) and self.jwks.claim_refetch(now):
            await self._refresh_jwks(only_if_older_than=now)
        if self.follow_revocations and not self.revocations.fresh(now):
            await self._poll(unless_fresh=True)
            if not self.revocations.fresh(self._now()):
                raise ServiceUnavailable("the revocation feed is out of date")
        principal = self._check_jwt(token, self._now(), refetch_possible=False)
        assert principal is not None
        return principal

    async def _refresh_jwks(self, *, only_if_older_than: float | None) -> None:
        assert self._remote is not None and self._jwks_lock is not None
        async with self._jwks_lock:  # one fetch at a time; waiters use its result
            if only_if_older_than is None and self.jwks.loaded:
                return
            if only_if_older_than is not None and self.jwks.fetched_at >= only_if_older_than:
                return
            self.jwks.install(await self._remote.jwks(), self._now())

    async def _poll(self, *, unless_fresh: bool) -> None:
        """Read the revocation feed to its end (one poll at a time)."""
        assert self._remote is not None and self._poll_lock is not None
        async with self._poll_lock:
            if unless_fresh and self.revocations.polls and self.revocations.fresh(self._now()):
                return  # a poll finished while this one waited
            started = self._now()
            items: list[Any] = []
            cursor = None
            since = self.revocations.since()
            server_started = None
            while True:
                page, server_time = await self._remote.revocations(since=since, cursor=cursor,
                                                                   limit=PAGE_LIMIT)
                if server_started is None and server_time is not None:
                    server_started = server_time - 1  # `Date` has whole seconds
                items.extend(page["items"])
                cursor = page.get("next_cursor")
                if not cursor:
                    break
            self.revocations.apply(items, started_at=started, now=self._now(),
                                   server_started_at=server_started)

    async def _poll_revocations(self) -> None:
        while True:
            try:
                await self._poll(unless_fresh=False)
            except ServiceUnavailable as exc:
                log.warning("revocation feed poll failed: %s", exc)
            await asyncio.sleep(self.revocations.poll_seconds)

    async def _refresh_jwks_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.jwks.max_age_seconds)
            try:
                await self._refresh_jwks(only_if_older_than=self._now() - self.jwks.max_age_seconds / 2)
            except ServiceUnavailable as exc:
                log.warning("JWKS refresh failed (the cached keys stay in use): %s", exc)

    async def _ready(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.audience is not None and not self.jwks.loaded and self._remote is not None:
                try:
                    await self._refresh_jwks(only_if_older_than=None)
                except ServiceUnavailable:
                    pass
            keys_ready = self.api_id is None or self._root_key is None or self.keys.enabled
            feed_ready = not self.follow_revocations or self.audience is None or self.revocations.polls > 0
            jwks_ready = self.audience is None or self.jwks.loaded or self._remote is None
            if keys_ready and feed_ready and jwks_ready:
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)

    async def _start_background(self) -> None:
        self._jwks_lock, self._poll_lock = asyncio.Lock(), asyncio.Lock()
        if self._settings is not None:
            from keyplane.services import open_services

            services = await open_services(self._settings, migrate_schema=False)
            services.start()
            self._opened_services = services
            return
        self._remote = Remote(self._url, issuer=self.issuer, root_key=self._root_key,
                              timeout_seconds=self._timeout, transport=self._transport)
        loop = asyncio.get_running_loop()
        if self._root_key is not None and self.api_id is not None:
            self._tasks.append(loop.create_task(follow_changes(
                self._remote, self.keys, api_id=self.api_id)))
        if self.follow_revocations and self.audience is not None:
            self._tasks.append(loop.create_task(self._poll_revocations()))
        if self.audience is not None:
            self._tasks.append(loop.create_task(self._refresh_jwks_periodically()))

    def _forked(self) -> None:
        # In a child process: the parent's thread, loop, client and tasks do not exist here,
        # and a lock may have been held by one of its threads at the fork.
        self._tasks = []
        self._remote = None
        self._opened_services = None
        self._verified_lock = threading.Lock()
        self._verified.clear()
        self.keys.reset_after_fork()

    async def _stop_background(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        self.keys.disable()
        if self._remote is not None:
            await self._remote.aclose()
            self._remote = None
        opened = self._opened_services
        if opened is not None:
            await opened.close()
            self._opened_services = None

    # -- embedded ------------------------------------------------------------------------

    async def _resolve_embedded(self, kind: int, credential: str, ip: str | None) -> Principal:
        from keyplane.http.oauth import introspection_body
        from keyplane.http.v1.verify import render

        services = self._embedded or self._opened_services
        assert services is not None
        if kind == _KEY:
            address = None
            if ip is not None:
                try:
                    address = ipaddress.ip_address(ip)
                except ValueError:
                    raise errors.bad_request("the client address is not an IP address", self.realm) from None
            verdict = await services.keys.verify(credential, api_id=self.api_id, ip=address)
            return self._key_answer(render(verdict))
        now = self._now()
        if kind == _JWT:
            keys = await services.signing_keys.verification_keys()
            self.jwks.install(keys, now)
            principal = self._check_jwt(credential, now, refetch_possible=False)
            assert principal is not None
            # The store holds the deny-list: a revoked token is refused at once.
            if await services.tokens.introspect(credential) is None:
                raise errors.invalid_token("the access token was revoked", self.realm)
            return principal
        claims = await services.tokens.introspect(credential)
        principal = principal_of_introspection(introspection_body(claims), issuer=self.issuer,
                                               audience=self.audience, now=now)
        if principal is None:
            raise errors.invalid_token("the access token is not active for this API", self.realm)
        return principal


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
