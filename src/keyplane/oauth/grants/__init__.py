"""The grants the token endpoint serves, found by `grant_type` in one table.

A grant is a module with a `handle(context, client, form)` coroutine; adding one is adding
a line here (and its name to discovery, which reads this table).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from keyplane.oauth.codes import AuthorizationCodeService
from keyplane.oauth.device import DeviceFlow
from keyplane.oauth.grants import (
    authorization_code,
    client_credentials,
    device_code,
    refresh_token,
    token_exchange,
)
from keyplane.oauth.id_tokens import IdTokenService
from keyplane.oauth.model import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN,
    GRANT_TOKEN_EXCHANGE,
    Client,
    IssuedToken,
)
from keyplane.oauth.refresh_tokens import RefreshTokenService
from keyplane.oauth.tokens import TokenService


@dataclass(frozen=True, slots=True)
class GrantContext:
    tokens: TokenService
    ip: str | None
    codes: AuthorizationCodeService
    refresh_tokens: RefreshTokenService
    devices: DeviceFlow
    dpop_jkt: str | None = None  # the key of the request's DPoP proof: tokens bind to it
    id_tokens: IdTokenService | None = None  # OpenID Connect: ID tokens for `openid` grants


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """The decoded form of a token request: single parameters, and the two that may
    repeat: RFC 8707 `resource` and RFC 8693 `audience`."""

    params: Mapping[str, str]
    resources: tuple[str, ...]
    audiences: tuple[str, ...] = ()


Grant = Callable[[GrantContext, Client, TokenRequest], Awaitable[IssuedToken]]

GRANTS: dict[str, Grant] = {
    GRANT_CLIENT_CREDENTIALS: client_credentials.handle,
    GRANT_AUTHORIZATION_CODE: authorization_code.handle,
    GRANT_REFRESH_TOKEN: refresh_token.handle,
    GRANT_DEVICE_CODE: device_code.handle,
    GRANT_TOKEN_EXCHANGE: token_exchange.handle,
}
