"""The values of the OAuth domain, shared by its services, stores and routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ClientType = Literal["confidential", "public"]
TokenFormat = Literal["jwt", "opaque"]
AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_AUTHORIZATION_CODE = "authorization_code"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


@dataclass(frozen=True, slots=True)
class Client:
    """A registered OAuth client (RFC 7591 names). Its secret is never here: only
    `ClientService` sees the stored hashes."""

    id: str
    name: str
    type: ClientType
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    token_format: TokenFormat
    auth_method: AuthMethod
    access_token_ttl_seconds: int | None
    refresh_token_ttl_seconds: int | None
    jwks: dict[str, Any] | None
    secret_start: str | None
    created_at: datetime
    updated_at: datetime
    # How long a refresh token may go unused before it expires (None: the service's setting).
    refresh_token_idle_seconds: int | None = None
    # Whether an authorization request must carry a PKCE challenge; always for a public
    # client, by default for a confidential one (RFC 9700 §2.1.1).
    pkce_required: bool = True
    # RFC 9449 §5.2: every token request of this client must carry a DPoP proof.
    dpop_bound_access_tokens: bool = False
    # RFC 9126 §6: authorization requests only through the PAR endpoint.
    require_pushed_authorization_requests: bool = False
    # OpenID Connect RP-Initiated Logout 1.0 §3.1: where logout may send the user back to.
    post_logout_redirect_uris: tuple[str, ...] = ()

    @property
    def is_public(self) -> bool:
        return self.type == "public"

    @property
    def default_audience(self) -> str | None:
        return self.audiences[0] if self.audiences else None


@dataclass(frozen=True, slots=True)
class IssuedClient:
    """A client just created, or whose secret was just rolled: the only moment the secret
    exists in clear."""

    client: Client
    secret: str | None

    def __repr__(self) -> str:
        return f"IssuedClient(id={self.client.id!r})"


@dataclass(frozen=True, slots=True)
class SigningKeyInfo:
    """A signing key as the management API shows it (no private material)."""

    kid: str
    alg: str
    created_at: datetime
    activates_at: datetime
    retires_at: datetime | None
    withdrawn_at: datetime | None
    status: Literal["pending", "active", "retired", "withdrawn"]


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What an access token says (RFC 9068 §2.2), whatever its format."""

    jti: str
    issuer: str
    subject: str
    client_id: str
    audience: tuple[str, ...]
    scope: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)

    def introspectable_by(self, client: Client) -> bool:
        """RFC 7662 §4: a token is described only to the client it was issued to, or to one
        registered for an audience of it (the resource server it is meant for); to any
        other client it reads as inactive."""
        return self.client_id == client.id or any(aud in client.audiences for aud in self.audience)


@dataclass(frozen=True, slots=True)
class Revocation:
    """A deny-listed JWT, refused until `expires_at`, when it would have expired anyway; or,
    with `jti` None, every token of `client_id` issued at or before `revoked_at` (a deleted
    client), until the last of them would have expired."""

    id: str
    jti: str | None
    client_id: str | None
    expires_at: datetime
    revoked_at: datetime


@dataclass(frozen=True, slots=True)
class Authentication:
    """When and in which browser session the user authenticated: what an ID token says
    besides who (`auth_time`, `sid`), kept with the code and the refresh-token family."""

    auth_time: datetime
    sid: str


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token response (RFC 6749 §5.1); `access_token` exists only here."""

    access_token: str
    expires_in: int
    scope: tuple[str, ...]
    claims: TokenClaims
    token_type: str = "Bearer"
    refresh_token: str | None = None
    issued_token_type: str | None = None  # RFC 8693 §2.2.1: token exchange answers it
    id_token: str | None = None  # OpenID Connect Core 1.0 §3.1.3.3
    # The login behind a refreshed user grant, for its new ID token (Core 1.0 §12.2).
    authentication: Authentication | None = None

    def __repr__(self) -> str:
        return f"IssuedToken(jti={self.claims.jti!r}, client_id={self.claims.client_id!r})"
