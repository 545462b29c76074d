"""`refresh_token` (RFC 6749 §6, RFC 9700 §4.14): rotate the refresh token, get a new access
token; `scope` and `resource` may narrow what was granted, never widen it. A grant that
came from an OpenID Connect login (`openid` kept in the scope) gets a new ID token (Core
1.0 §12.2): the same `sub`, `aud`, `auth_time` and `sid`, a new `iat`, no `nonce`."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from keyplane.errors import InvalidRequest
from keyplane.oauth.model import Client, IssuedToken

if TYPE_CHECKING:
    from keyplane.oauth.grants import GrantContext, TokenRequest


async def handle(context: GrantContext, client: Client, request: TokenRequest) -> IssuedToken:
    token = request.params.get("refresh_token")
    if token is None:
        raise InvalidRequest("refresh_token is missing")
    issued = await context.refresh_tokens.refresh(client, token, scope=request.params.get("scope"),
                                                  resources=request.resources, ip=context.ip,
                                                  dpop_jkt=context.dpop_jkt)
    if context.id_tokens is not None and issued.authentication is not None:
        id_token = await context.id_tokens.for_grant(
            client, subject=issued.claims.subject, scope=issued.scope,
            authentication=issued.authentication, nonce=None, access_token=issued.access_token)
        if id_token is not None:
            issued = dataclasses.replace(issued, id_token=id_token)
    return issued
