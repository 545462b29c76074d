"""ID tokens (OpenID Connect Core 1.0 §2, §3.1.3.6): who logged in, for the client.

Signed with the keys that sign access tokens (one JWKS for both), with header `typ: JWT`,
so an ID token is never taken for an access token (those are `at+jwt`, RFC 9068 §2.1) nor
the other way round. `at_hash` is the left half of the access token's hash by the hash of
the signing algorithm (§3.1.3.6): SHA-256 for ES256 and RS256, SHA-512 for EdDSA with
Ed25519 (as OpenID Connect's errata set 2 names it). `sid` names the browser session
(Front-Channel Logout 1.0 §2.1): derived from it, never the cookie's secret value.

An `id_token_hint` (RP-Initiated Logout 1.0 §2) is read with `hinted`: the signature must
verify against our keys and `iss` be ours, but an expired ID token is still a hint.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from keyplane.clock import Clock
from keyplane.errors import InvalidToken
from keyplane.jose.algorithms import EDDSA
from keyplane.jose.jws import decode_json_object, verify_compact
from keyplane.oauth.model import Authentication, Client
from keyplane.oauth.signing_keys import SigningKeyService
from keyplane.oauth.user_claims import OPENID, user_claims
from keyplane.users.model import User

ID_TOKEN_TYPE = "JWT"
ID_TOKEN_TTL_SECONDS = 300  # read once by the client, at login
MAX_NONCE_LENGTH = 512


@dataclass(frozen=True, slots=True)
class IdTokenHint:
    """The claims of an ID token we issued, as a logout request hints with it."""

    subject: str
    audience: tuple[str, ...]
    sid: str | None


def at_hash(access_token: str, alg: str) -> str:
    """§3.1.3.6: base64url of the left-most half of the hash of the token's ASCII."""
    digest = (hashlib.sha512 if alg == EDDSA else hashlib.sha256)(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).decode("ascii").rstrip("=")


class ActiveUsers(Protocol):
    async def active_user(self, user_id: str) -> User | None: ...


class IdTokenService:
    def __init__(self, signing_keys: SigningKeyService, users: ActiveUsers, clock: Clock, *,
                 issuer: str) -> None:
        self._signing_keys = signing_keys
        self._users = users
        self._clock = clock
        self._issuer = issuer

    async def for_grant(self, client: Client, *, subject: str, scope: tuple[str, ...],
                        authentication: Authentication, nonce: str | None,
                        access_token: str) -> str | None:
        """The ID token a token response of a user's grant carries: None unless `scope`
        holds `openid` (and the user is still active; the grant checked that already)."""
        if OPENID not in scope:
            return None
        user = await self._users.active_user(subject)
        if user is None:
            return None
        return await self.mint(client_id=client.id, user=user, scope=scope,
                               authentication=authentication, nonce=nonce,
                               access_token=access_token)

    async def mint(self, *, client_id: str, user: User, scope: tuple[str, ...],
                   authentication: Authentication, nonce: str | None,
                   access_token: str | None) -> str:
        """An ID token for `user` and `client_id` (§2): `auth_time` and `sid` from the
        authentication, `nonce` echoed when the request had one, `at_hash` of the access
        token issued with it, and the claims `scope` releases."""
        key = await self._signing_keys.active()
        now = self._clock.now().replace(microsecond=0)
        claims: dict[str, Any] = {
            **user_claims(user, scope),
            "iss": self._issuer, "aud": client_id, "azp": client_id,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=ID_TOKEN_TTL_SECONDS)).timestamp()),
            "auth_time": int(authentication.auth_time.timestamp()),
            "sid": authentication.sid,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["at_hash"] = at_hash(access_token, key.alg)
        # Signed inline: one a login, not on the token endpoint's hot path.
        return key.jwt_signer(ID_TOKEN_TYPE).sign(claims)

    async def hinted(self, token: str) -> IdTokenHint:
        """The claims of an ID token this server signed, expired or not (a hint, not a
        credential); raises InvalidToken for anything else."""
        keys = await self._signing_keys.verification_keys()
        _header, payload = verify_compact(token, keys, algorithms={alg for alg, _ in keys.values()},
                                          typ=ID_TOKEN_TYPE)
        claims = decode_json_object(payload)
        if claims.get("iss") != self._issuer:
            raise InvalidToken("the ID token was not issued here")
        subject, aud, sid = claims.get("sub"), claims.get("aud"), claims.get("sid")
        audience = (aud,) if isinstance(aud, str) else tuple(a for a in aud if isinstance(a, str)) \
            if isinstance(aud, list) else ()
        if not isinstance(subject, str) or not audience:
            raise InvalidToken("the ID token has no sub or aud")
        return IdTokenHint(subject=subject, audience=audience,
                           sid=sid if isinstance(sid, str) else None)
