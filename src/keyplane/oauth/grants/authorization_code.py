"""`authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5): a code, its verifier, tokens.

The client authenticates as registered (a public client names itself), the code must be
its own, unused, unexpired, sent back with the same `redirect_uri` and the `code_verifier`
of its challenge (codes.py); anything else is `invalid_grant`. The access token's subject
is the user who approved, with the scopes they granted. A grant of the `openid` scope
answers an ID token too (OpenID Connect Core 1.0 §3.1.3.3).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from keyplane.errors import InvalidRequest, InvalidTarget
from keyplane.oauth.codes import CodeGrant, Issued
from keyplane.oauth.model import Client, IssuedToken

if TYPE_CHECKING:
    from keyplane.oauth.grants import GrantContext, TokenRequest


async def handle(context: GrantContext, client: Client, request: TokenRequest) -> IssuedToken:
    code = request.params.get("code")
    if code is None:
        raise InvalidRequest("code is missing")
    grant = await context.codes.redeem(client, code, redirect_uri=request.params.get("redirect_uri"),
                                       code_verifier=request.params.get("code_verifier"),
                                       ip=context.ip)
    audience = grant.audience
    if request.resources:  # RFC 8707 §2.2: narrow the audience to what was approved
        unknown = [r for r in request.resources if r not in grant.audience]
        if unknown:
            raise InvalidTarget(f"the code was not issued for {unknown[0]}")
        audience = tuple(dict.fromkeys(request.resources))
    return await respond(context, client, grant, audience)


async def respond(context: GrantContext, client: Client, grant: CodeGrant,
                  audience: tuple[str, ...]) -> IssuedToken:
    """What a redeemed code yields — an access token, and a refresh token of a new family
    when the client may refresh — and the record of both on the code's row, so a replay
    revokes them (the family through `CodeReplayRevoker`)."""
    issued, family_id = await context.refresh_tokens.issue_tokens(
        client, subject=grant.user_id, scope=grant.scope, audience=audience, ip=context.ip,
        dpop_jkt=context.dpop_jkt, authentication=grant.authentication)
    await context.codes.record_issued(grant, Issued(access_jti=issued.claims.jti,
                                                    access_expires_at=issued.claims.expires_at,
                                                    refresh_family_id=family_id),
                                      client, ip=context.ip)
    if context.id_tokens is not None and grant.authentication is not None:
        id_token = await context.id_tokens.for_grant(
            client, subject=grant.user_id, scope=grant.scope, authentication=grant.authentication,
            nonce=grant.nonce, access_token=issued.access_token)
        if id_token is not None:
            issued = dataclasses.replace(issued, id_token=id_token)
    return issued
