"""Client authentication at the token, introspection and revocation endpoints.

One method a request, and only the method the client registered (RFC 6749 §2.3, RFC 7591
`token_endpoint_auth_method`): `client_secret_basic` (HTTP Basic, §2.3.1: id and secret
form-urlencoded, then Base64), `client_secret_post` (in the form), `private_key_jwt`
(RFC 7523 §2.2: a JWT signed with a key of the client's registered JWKS), or `none` for
public clients, which send only `client_id`. Every failure is `invalid_client` (401) with
no hint of which part was wrong; when the client tried Basic the answer carries a Basic
challenge (§5.2).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote_plus

from keyplane.audit import events
from keyplane.audit.events import Actor, AuditEvent
from keyplane.batching import BatchWriter
from keyplane.clock import Clock
from keyplane.errors import Invalid, InvalidClient, InvalidRequest, InvalidToken, NotFound
from keyplane.jose.jwk import public_keys_from_jwks
from keyplane.jose.jws import b64url_decode, decode_json_object
from keyplane.jose.jwt import decode_jwt
from keyplane.oauth.model import Client

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME_SECONDS = 300  # RFC 7523 §3: a short `exp`; ours: five minutes
MAX_ASSERTION_LENGTH = 8192


class Clients(Protocol):
    async def get_client(self, client_id: str) -> Client: ...
    async def check_secret(self, client_id: str, secret: str) -> Client | None: ...
    async def use_assertion_jti(self, client_id: str, jti: str, expires_at: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class Authenticated:
    client: Client
    method: str


class ClientAuthenticator:
    def __init__(self, clients: Clients, clock: Clock, *, audiences: tuple[str, ...],
                 audit: BatchWriter[AuditEvent]) -> None:
        self._clients = clients
        self._clock = clock
        self._audiences = audiences  # what a client assertion's `aud` may name
        self._audit = audit

    async def authenticate(self, form: Mapping[str, str], authorization: str | None, *,
                           ip: str | None) -> Authenticated:
        """The client this request comes from; raises InvalidClient or InvalidRequest."""
        basic = authorization is not None and authorization[:6].lower() == "basic "
        try:
            return await self._authenticate(form, authorization if basic else None)
        except InvalidClient as failure:
            failure.www_authenticate = 'Basic realm="keyplane"' if basic else None
            client_id = form.get("client_id") or "unknown"
            self._audit.add(AuditEvent.of(Actor(id=client_id[:64], ip=ip), events.CLIENT_AUTH_FAILURE,
                                          client_id[:64], self._clock.now(), reason=failure.description))
            raise

    async def _authenticate(self, form: Mapping[str, str], basic: str | None) -> Authenticated:
        assertion = form.get("client_assertion")
        methods = [m for m, present in (("client_secret_basic", basic is not None),
                                        ("client_secret_post", "client_secret" in form),
                                        ("private_key_jwt", assertion is not None)) if present]
        if len(methods) > 1:  # RFC 6749 §2.3: one authentication method a request
            raise InvalidRequest("use exactly one client authentication method")
        method = methods[0] if methods else "none"
        if method == "client_secret_basic":
            client_id, secret = _basic_credentials(basic or "")
            if form.get("client_id") not in (None, client_id):
                raise InvalidRequest("client_id differs from the Basic credentials")
            return Authenticated(await self._by_secret(client_id, secret, method), method)
        named = form.get("client_id")
        if method == "client_secret_post":
            if not named:
                raise InvalidClient("client_id is missing")
            return Authenticated(await self._by_secret(named, form["client_secret"], method), method)
        if method == "private_key_jwt":
            if form.get("client_assertion_type") != JWT_BEARER_ASSERTION:
                raise InvalidRequest(f"client_assertion_type must be {JWT_BEARER_ASSERTION}")
            return Authenticated(await self._by_assertion(assertion or "", named), method)
        if not named:
            raise InvalidClient("client authentication is required")
        client = await self._known(named)
        if client.auth_method != "none":
            raise InvalidClient("this client must authenticate")
        return Authenticated(client, method)

    async def _known(self, client_id: str) -> Client:
        try:
            return await self._clients.get_client(client_id)
        except NotFound:
            raise InvalidClient("unknown client or bad credentials") from None

    async def _by_secret(self, client_id: str, secret: str, method: str) -> Client:
        client = await self._clients.check_secret(client_id, secret)
        if client is None:
            raise InvalidClient("unknown client or bad credentials")
        if client.auth_method != method:
            raise InvalidClient(f"this client is registered for {client.auth_method}")
        return client

    async def _by_assertion(self, assertion: str, client_id: str | None) -> Client:
        if len(assertion) > MAX_ASSERTION_LENGTH:
            raise InvalidClient("the client assertion is too large")
        issuer = _unverified_issuer(assertion)
        if issuer is None or (client_id is not None and client_id != issuer):
            raise InvalidClient("the client assertion's iss and sub must be the client_id")
        client = await self._known(issuer)
        if client.auth_method != "private_key_jwt" or not client.jwks:
            raise InvalidClient(f"this client is registered for {client.auth_method}")
        try:
            keys = public_keys_from_jwks(client.jwks)
        except Invalid:  # registered under older rules: unusable, not a server error
            raise InvalidClient("the client's registered JWKS holds no usable key") from None
        now = self._clock.now()
        claims: dict[str, Any] | None = None
        for audience in self._audiences:  # the token endpoint URL or the issuer (RFC 7523 §3)
            try:
                claims = decode_jwt(assertion, keys, algorithms={alg for alg, _ in keys.values()},
                                    typ=None, issuer=client.id, audience=audience, now=now)
                break
            except InvalidToken as exc:
                if "aud" not in str(exc):
                    raise InvalidClient("the client assertion does not verify") from exc
        if claims is None:
            raise InvalidClient("the client assertion's aud must name this server")
        if claims.get("sub") != client.id or not isinstance(claims.get("jti"), str):
            raise InvalidClient("the client assertion needs sub = client_id and a jti")
        # Compared as numbers first: a far `exp` (year 10000) must be refused, not overflow.
        if float(claims["exp"]) - now.timestamp() > MAX_ASSERTION_LIFETIME_SECONDS:
            raise InvalidClient(f"the client assertion must expire within {MAX_ASSERTION_LIFETIME_SECONDS} s")
        exp = datetime.fromtimestamp(int(claims["exp"]), UTC)
        if not await self._clients.use_assertion_jti(client.id, claims["jti"], exp):
            raise InvalidClient("the client assertion was used already")
        return client


def _basic_credentials(header: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidClient("malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise InvalidClient("malformed Basic credentials")
    # RFC 6749 §2.3.1: both parts are application/x-www-form-urlencoded before Base64.
    return unquote_plus(client_id), unquote_plus(secret)


def _unverified_issuer(assertion: str) -> str | None:
    """The `iss` of an assertion, read before verification only to find whose keys verify it."""
    segments = assertion.split(".")
    if len(segments) != 3:
        return None
    try:
        # The JOSE decoders: strict, size-capped, and any failure (deep nesting included)
        # is InvalidToken, never a server error.
        claims = decode_json_object(b64url_decode(segments[1]))
    except InvalidToken:
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) and issuer == claims.get("sub") else None
