"""Token exchange (RFC 8693): one API, holding a user's token, gets a token for another API
on that user's behalf.

The subject token is an access token keyplane issued (a JWT or an opaque one) and still
active: not expired, not revoked (else `invalid_grant`). The result is issued to the
requesting client, for the same subject, with at most the subject token's scopes
(`invalid_scope` beyond them), for audiences the client is registered for (`resource` /
`audience`; `invalid_target` otherwise), and lives no longer than the subject token.
Who acts is recorded in an `act` claim (§4.1): the actor token's subject when one is
given, else the requesting client; an `act` the subject token carried is nested inside,
so the whole delegation chain is kept. A `may_act` claim of the subject token (§4.4)
names who may act for it; anyone else is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from keyplane.audit import events
from keyplane.errors import InvalidGrant, InvalidRequest
from keyplane.oauth.audiences import audience_for
from keyplane.oauth.model import Client, IssuedToken, TokenClaims
from keyplane.oauth.refresh_tokens import is_refresh_token
from keyplane.oauth.scopes import granted_scopes

if TYPE_CHECKING:
    from keyplane.oauth.grants import GrantContext, TokenRequest

ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
# What a subject or actor token may be: keyplane's access tokens, which are JWTs or opaque.
ACCEPTED_TYPES = (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE)
ISSUED_TOKEN_TYPE = ACCESS_TOKEN_TYPE
MAX_CHAIN = 10  # nested `act` claims kept; a longer chain is refused


async def handle(context: GrantContext, client: Client, request: TokenRequest) -> IssuedToken:
    params = request.params
    requested_type = params.get("requested_token_type")
    if requested_type is not None and requested_type != ISSUED_TOKEN_TYPE:
        raise InvalidRequest(f"requested_token_type must be {ISSUED_TOKEN_TYPE}")
    subject = await _token(context, params, "subject_token")
    if subject is None:
        raise InvalidRequest("subject_token is missing")
    actor = await _token(context, params, "actor_token")
    if actor is None and "actor_token_type" in params:
        raise InvalidRequest("actor_token_type is given without an actor_token")

    acting = ({"sub": actor.subject, "client_id": actor.client_id} if actor is not None
              else {"sub": client.id, "client_id": client.id})
    _check_may_act(subject.extra.get("may_act"), acting)
    act: dict[str, Any] = dict(acting)
    prior = subject.extra.get("act")
    if isinstance(prior, dict):
        if _depth(prior) >= MAX_CHAIN:
            raise InvalidGrant("the subject token's delegation chain is too long")
        act["act"] = prior

    scope = granted_scopes(params.get("scope"), allowed=subject.scope)  # narrowed only
    audience = audience_for(client, (*request.resources, *request.audiences))
    issued = await context.tokens.issue(
        client, subject=subject.subject, scope=scope, audience=audience, extra={"act": act},
        ip=context.ip, expires_by=subject.expires_at, action=events.TOKEN_EXCHANGE,
        dpop_jkt=context.dpop_jkt,
        details={"subject_jti": subject.jti, "subject_client_id": subject.client_id,
                 "actor": acting["sub"]})
    return dataclasses.replace(issued, issued_token_type=ISSUED_TOKEN_TYPE)


async def _token(context: GrantContext, params: Mapping[str, str], name: str) -> TokenClaims | None:
    """The claims of the `name` token (subject_token, actor_token); None when not given.
    Raises InvalidRequest for an unsupported type, InvalidGrant for a token that is not an
    active keyplane access token."""
    value = params.get(name)
    if value is None:
        return None
    kind = params.get(f"{name}_type")
    if kind is None:
        raise InvalidRequest(f"{name}_type is missing")
    if kind not in ACCEPTED_TYPES:
        raise InvalidRequest(f"{name}_type must be {ACCESS_TOKEN_TYPE} (or {JWT_TOKEN_TYPE})")
    if is_refresh_token(value):
        raise InvalidGrant(f"the {name} is a refresh token; send an access token")
    claims = await context.tokens.introspect(value)
    if claims is None:
        raise InvalidGrant(f"the {name} is not active: expired, revoked or unknown")
    return claims


def _check_may_act(may_act: object, acting: dict[str, str]) -> None:
    """RFC 8693 §4.4: when the subject token names who may act for it, the actor must be
    that party (every claim `may_act` names must match)."""
    if may_act is None:
        return
    if not isinstance(may_act, dict) or not may_act:
        raise InvalidGrant("the subject token's may_act claim is malformed")
    for claim, value in may_act.items():
        if acting.get(claim) != value:
            raise InvalidGrant("the subject token does not allow this actor to act for it")


def _depth(act: dict[str, Any]) -> int:
    depth = 0
    current: object = act
    while isinstance(current, dict) and depth <= MAX_CHAIN:
        depth += 1
        current = current.get("act")
    return depth
