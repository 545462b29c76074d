"""`GET /.well-known/jwks.json`: the public signing keys (RFC 7517 §5), for anyone.

A plain route (no dependency injection, no models): the body is encoded once per key-list
reload. `Cache-Control: public, max-age` is at most half of what is left of the
publish-ahead period (`SigningKeyService.jwks_max_age_seconds`), so a cache that fetched
the set just before a rotation still refreshes before the new key signs.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from keyplane.http.context import services_of

JWKS_PATH = "/.well-known/jwks.json"
# RFC 7517 §8.5.1 registers application/jwk-set+json; plain JSON is what every client and
# cache expects from a jwks_uri, and a JWK Set is a JSON object either way.
MEDIA_TYPE = "application/json"


async def jwks(request: Request) -> Response:
    signing_keys = services_of(request).signing_keys
    body = await signing_keys.jwks_json()
    return Response(body, media_type=MEDIA_TYPE, headers={
        "Cache-Control": f"public, max-age={signing_keys.jwks_max_age_seconds}"})
