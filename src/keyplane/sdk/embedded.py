"""Embedded mode: the verifier asks the store directly (`Verifier(services=...)` in the
keyplane process itself, or `settings=` beside it). Exact, with no cache and no staleness:
keys go to `KeyService.verify`, JWTs are checked with the service's own signing keys and
its deny-list, opaque tokens are introspected in process. Imported only in this mode, so
an API using the remote verifier never loads the server's modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from keyplane.http.oauth import introspection_body
from keyplane.http.v1.verify import render
from keyplane.sdk import errors
from keyplane.sdk.credentials import client_address
from keyplane.sdk.introspection import principal_of_introspection
from keyplane.sdk.principal import Principal

if TYPE_CHECKING:
    from keyplane.sdk.verifier import Verifier
    from keyplane.services import Services


async def verify_api_key(verifier: Verifier, services: Services, key: str, ip: str | None) -> Principal:
    verdict = await services.keys.verify(key, api_id=verifier.api_id, ip=client_address(ip))
    return verifier.key_answer(msgspec.to_builtins(render(verdict)))  # the answer as JSON has it


async def verify_jwt(verifier: Verifier, services: Services, token: str, now: float) -> Principal:
    verifier.jwks.install(await services.signing_keys.verification_keys(), now)
    principal = verifier.check_jwt(token, now)
    # The store holds the deny-list: a revoked token is refused at once.
    if await services.tokens.introspect(token) is None:
        raise errors.invalid_token("the access token was revoked", verifier.realm)
    return principal


async def verify_opaque(verifier: Verifier, services: Services, token: str, now: float) -> Principal:
    claims = await services.tokens.introspect(token)
    principal = principal_of_introspection(introspection_body(claims), issuer=verifier.issuer,
                                           audience=verifier.audience, now=now)
    if principal is None:
        raise errors.invalid_token("the access token is not active for this API", verifier.realm)
    return principal
