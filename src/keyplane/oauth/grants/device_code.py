"""`urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4): the device polls with its
device_code until the user decides; once approved it gets its tokens, once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keyplane.errors import InvalidRequest
from keyplane.oauth.model import Client, IssuedToken

if TYPE_CHECKING:
    from keyplane.oauth.grants import GrantContext, TokenRequest


async def handle(context: GrantContext, client: Client, request: TokenRequest) -> IssuedToken:
    device_code = request.params.get("device_code")
    if device_code is None:
        raise InvalidRequest("device_code is missing")
    approved = await context.devices.poll(client, device_code)
    issued, _family = await context.refresh_tokens.issue_tokens(
        client, subject=approved.subject, scope=approved.scope, audience=approved.audience,
        ip=context.ip, dpop_jkt=context.dpop_jkt)
    return issued
