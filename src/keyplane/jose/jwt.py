"""JWT (RFC 7519) on the lean compact JWS path: claims encoded, and checked on decode.

`decode_jwt` trusts nothing before the signature verifies (`jws.verify_compact`), then
checks the registered claims (RFC 7519 §4.1, RFC 8725 §3.8-3.10): `exp` is required,
`nbf` and `iat` must not be in the future, each with a leeway for clock skew; `iss` must
equal the expected issuer exactly; `aud` (a string or a list of strings) must contain the
expected audience. Pass `issuer=None` / `audience=None` only where the caller checks them
itself (introspection accepts every audience of its own tokens).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from keyplane.errors import InvalidToken
from keyplane.jose.algorithms import PrivateKey
from keyplane.jose.jws import (
    CompactSigner,
    VerificationKeys,
    decode_json_object,
    encode_json,
    sign_compact,
    verify_compact,
)

DEFAULT_LEEWAY_SECONDS = 30
_MAX_NUMERIC_DATE = 1 << 53  # beyond, a float would not hold it exactly (nor any real date)


def encode_jwt(claims: Mapping[str, Any], private_key: PrivateKey, alg: str, *, kid: str,
               typ: str = "JWT") -> str:
    """`claims` signed as a compact JWS with header `{"alg", "kid", "typ"}`.

    Access tokens use `typ="at+jwt"` (RFC 9068 §2.1). Raises ValueError when the key
    cannot sign `alg`.
    """
    return sign_compact({"alg": alg, "kid": kid, "typ": typ}, encode_json(claims), private_key, alg)


class JwtSigner:
    """`encode_jwt` with one key, `kid` and `typ`, prepared once (jws.CompactSigner)."""

    __slots__ = ("_signer",)

    def __init__(self, private_key: PrivateKey, alg: str, *, kid: str, typ: str = "JWT") -> None:
        self._signer = CompactSigner({"alg": alg, "kid": kid, "typ": typ}, private_key, alg)

    def sign(self, claims: Mapping[str, Any]) -> str:
        return self._signer.sign(encode_json(claims))


def decode_jwt(token: str | bytes, keys: VerificationKeys, *, algorithms: set[str] | frozenset[str],
               typ: str | None, issuer: str | None, audience: str | None,
               now: datetime | float, leeway_seconds: float = DEFAULT_LEEWAY_SECONDS) -> dict[str, Any]:
    """The claims of `token` once its signature and its registered claims hold.

    `now` is a datetime or seconds since the epoch. Raises InvalidToken; the message says
    which check failed (the audience check's message, and only its, names `aud`).
    """
    _header, payload = verify_compact(token, keys, algorithms=algorithms, typ=typ)
    claims = decode_json_object(payload)
    at = now.timestamp() if isinstance(now, datetime) else float(now)

    exp = _numeric_date(claims, "exp")
    if exp is None:
        raise InvalidToken("the token has no exp")
    if at >= exp + leeway_seconds:
        raise InvalidToken("the token has expired")
    nbf = _numeric_date(claims, "nbf")
    if nbf is not None and at + leeway_seconds < nbf:
        raise InvalidToken("the token is not valid yet (nbf)")
    iat = _numeric_date(claims, "iat")
    if iat is not None and at + leeway_seconds < iat:
        raise InvalidToken("the token was issued in the future (iat)")

    if issuer is not None and claims.get("iss") != issuer:
        raise InvalidToken("the token's iss is not the expected issuer")
    if audience is not None:
        aud = claims.get("aud")
        if not (aud == audience or (type(aud) is list and audience in aud)):
            raise InvalidToken("the token's aud does not include the expected audience")
    return claims


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """RFC 7519 §2 NumericDate: a JSON number (not a boolean, not a string)."""
    value = claims.get(name)
    if value is None:
        return None
    if type(value) is int and abs(value) < _MAX_NUMERIC_DATE:
        return float(value)
    if type(value) is float and math.isfinite(value):
        return value
    raise InvalidToken(f"{name} is not a NumericDate")
