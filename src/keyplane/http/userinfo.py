"""The UserInfo endpoint (OpenID Connect Core 1.0 §5.3): `GET` and `POST`, with an access
token in the `Authorization` header (RFC 6750 §2.1; RFC 9449 §7 for a DPoP-bound one).

The token must be active (introspection's rules: ours, unexpired, unrevoked), granted
`openid`, and name a user who is still active; the answer is `sub` and the claims its
scopes release (oauth/user_claims.py). Refusals are RFC 6750 §3's: 401 `invalid_token`
with a `WWW-Authenticate` challenge (`DPoP` for a bound token, as every resource server
answers it), 403 `insufficient_scope` naming `openid`, and a challenge without an error
code when no token was sent at all.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keyplane.errors import InvalidDpopProof, UseDpopNonce
from keyplane.http.context import services_of
from keyplane.http.json import dumps
from keyplane.oauth.metadata import USERINFO_PATH
from keyplane.oauth.model import TokenClaims
from keyplane.oauth.tokens import MAX_TOKEN_LENGTH
from keyplane.oauth.user_claims import OPENID, user_claims
from keyplane.sdk.dpop import INVALID_DPOP_PROOF, USE_DPOP_NONCE, refusal
from keyplane.sdk.errors import (
    AuthError,
    bad_request,
    insufficient_scope,
    invalid_token,
    no_credentials,
)

REALM = "keyplane"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _token_of(request: Request) -> tuple[str, bool]:
    """(access token, whether the DPoP scheme carried it); raises AuthError."""
    authorization = request.headers.get("authorization")
    if not authorization:
        raise no_credentials(REALM)
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() not in ("bearer", "dpop") or not token or " " in token:
        raise bad_request("the Authorization header must be 'Bearer <token>' or 'DPoP <token>'", REALM)
    if len(token) > MAX_TOKEN_LENGTH:
        raise invalid_token("the access token is not valid", REALM)
    return token, scheme.lower() == "dpop"


async def _check_binding(request: Request, claims: TokenClaims, token: str, dpop_scheme: bool) -> None:
    """RFC 9449 §7: a bound token only with the DPoP scheme and a fresh proof of its key."""
    cnf = claims.extra.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if jkt is None:
        if dpop_scheme:
            raise refusal("invalid_token", "this access token is not DPoP-bound: send it as Bearer", REALM)
        return
    if not dpop_scheme:
        raise refusal("invalid_token", "this access token is DPoP-bound: send it with the DPoP "
                      "scheme and a proof", REALM)
    services = services_of(request)
    proofs = request.headers.getlist("dpop")
    if not proofs:
        raise refusal(INVALID_DPOP_PROOF, "send a DPoP proof for this request", REALM)
    url = f"{request.url.scheme}://{request.headers.get('host', '')}{request.url.path}"
    try:
        proof = await services.dpop.check(
            proofs, method=request.method,
            urls=(services.settings.resolved_issuer + USERINFO_PATH, url), access_token=token)
    except UseDpopNonce as exc:
        raise refusal(USE_DPOP_NONCE, exc.description, REALM, exc.headers) from None
    except InvalidDpopProof as exc:
        raise refusal(INVALID_DPOP_PROOF, exc.description, REALM) from None
    if proof is None or proof.jkt != jkt:
        raise refusal(INVALID_DPOP_PROOF, "the DPoP proof is signed by another key than the "
                      "token is bound to", REALM)


async def userinfo(request: Request) -> Response:
    try:
        token, dpop_scheme = _token_of(request)
        services = services_of(request)
        claims = await services.tokens.introspect(token)
        if claims is None:
            raise invalid_token("the access token is not valid", REALM)
        await _check_binding(request, claims, token, dpop_scheme)
        if OPENID not in claims.scope:
            raise insufficient_scope("the access token was not granted the openid scope", REALM, [OPENID])
        user = await services.users.active_user(claims.subject)
        if user is None:
            raise invalid_token("the access token's user is no longer active", REALM)
    except AuthError as exc:
        return Response(dumps(exc.to_json()), status_code=exc.status, media_type="application/json",
                        headers={**_NO_STORE, **exc.headers})
    return Response(dumps(user_claims(user, claims.scope)), media_type="application/json",
                    headers=_NO_STORE)


def routes() -> list[BaseRoute]:
    return [Route(USERINFO_PATH, userinfo, methods=["GET", "POST"])]
