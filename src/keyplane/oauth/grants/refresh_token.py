"""`refresh_token` (RFC 6749 §6, RFC 9700 §4.14): rotate the refresh token, get a new access
token; `scope` and `resource` may narrow what was granted, never widen it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keyplane.errors import InvalidRequest
from keyplane.oauth.model import Client, IssuedToken

if TYPE_CHECKING:
    from keyplane.oauth.grants import GrantContext, TokenRequest


async def handle(context: GrantContext, client: Client, request: TokenRequest) -> IssuedToken:
    token = request.params.get("refresh_token")
    if token is None:
        raise InvalidRequest("refresh_token is missing")
    return await context.refresh_tokens.refresh(client, token, scope=request.params.get("scope"),
                                                resources=request.resources, ip=context.ip,
                                                dpop_jkt=context.dpop_jkt)
