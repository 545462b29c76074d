"""`client_credentials` (RFC 6749 §4.4): a confidential client gets a token for itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keyplane.errors import UnauthorizedClient
from keyplane.oauth.audiences import audience_for
from keyplane.oauth.model import Client, IssuedToken
from keyplane.oauth.scopes import granted_scopes

if TYPE_CHECKING:
    from keyplane.oauth.grants import GrantContext, TokenRequest


async def handle(context: GrantContext, client: Client, request: TokenRequest) -> IssuedToken:
    if client.is_public:  # registered for it or not: it has no credentials to present
        raise UnauthorizedClient("a public client may not use client_credentials")
    scope = granted_scopes(request.params.get("scope"), allowed=client.scopes)
    audience = audience_for(client, request.resources)
    # The client acts for itself: it is the subject (RFC 9068 §2.2, client_credentials).
    return await context.tokens.issue(client, subject=client.id, scope=scope, audience=audience,
                                      ip=context.ip, dpop_jkt=context.dpop_jkt)

