"""Encrypted access tokens (RFC 7516, on joserfc): a signed JWT, then encrypted to a
resource server's public key — a nested JWT (RFC 7519 §5.2: `cty: "JWT"`).

Key management is `RSA-OAEP-256` (an RSA key of 2048 bits or more) or `ECDH-ES+A256KW`
(an EC key on P-256, P-384 or P-521); content encryption is always `A256GCM`. Nothing
else is accepted, so neither side can be talked into a weaker algorithm.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey, thumbprint

from keyplane.errors import FieldError, Invalid, InvalidToken
from keyplane.jose.jwk import public_members_of, refuse_private

RSA_OAEP_256 = "RSA-OAEP-256"
ECDH_ES_A256KW = "ECDH-ES+A256KW"
CONTENT_ENCRYPTION = "A256GCM"
KEY_ALGORITHMS = {"RSA": RSA_OAEP_256, "EC": ECDH_ES_A256KW}
EC_CURVES = ("P-256", "P-384", "P-521")
MIN_RSA_BITS = 2048
MAX_JWE_LENGTH = 16_384
_REGISTRY = jwe.JWERegistry(algorithms=[RSA_OAEP_256, ECDH_ES_A256KW, CONTENT_ENCRYPTION])

EncryptionKey = RSAKey | ECKey


def encryption_key(jwk: Any, *, where: str = "encryption_jwk") -> tuple[dict[str, Any], EncryptionKey]:
    """The public JWK as stored (its members, `alg` and `kid` filled in) and the key; raises
    Invalid naming the member that breaks a rule."""
    if not isinstance(jwk, Mapping):
        raise Invalid.field(where, "must be a JSON object (a public JWK)")
    refuse_private(jwk, where)
    kty = jwk.get("kty")
    if kty not in KEY_ALGORITHMS:
        raise Invalid.field(f"{where}.kty", "must be RSA (RSA-OAEP-256) or EC (ECDH-ES+A256KW)")
    alg = KEY_ALGORITHMS[kty]
    if jwk.get("alg", alg) != alg:
        raise Invalid.field(f"{where}.alg", f"must be {alg} for a {kty} key")
    if jwk.get("use", "enc") != "enc":
        raise Invalid.field(f"{where}.use", 'must be "enc"')
    members = ("n", "e") if kty == "RSA" else ("crv", "x", "y")
    public: dict[str, Any] = public_members_of(jwk, kty, members, where)
    if kty == "EC" and public["crv"] not in EC_CURVES:
        raise Invalid.field(f"{where}.crv", f"must be one of {', '.join(EC_CURVES)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # joserfc warns of small keys; the rule is below
            key: EncryptionKey = (RSAKey if kty == "RSA" else ECKey).import_key(public)
    except (JoseError, ValueError, TypeError) as exc:
        raise Invalid.field(where, f"not a valid {kty} public key") from exc
    if isinstance(key, RSAKey) and key.raw_value.key_size < MIN_RSA_BITS:
        raise Invalid.field(where, f"RSA keys must have at least {MIN_RSA_BITS} bits")
    kid = jwk.get("kid")
    if kid is None:
        kid = thumbprint(public)
    elif not isinstance(kid, str) or not 1 <= len(kid) <= 200:
        raise Invalid([FieldError(f"{where}.kid", "must be a string of 1 to 200 characters")])
    return {**public, "alg": alg, "use": "enc", "kid": kid}, key


def encrypt_nested(signed_jwt: str, jwk: Mapping[str, Any], key: EncryptionKey) -> str:
    """`signed_jwt` encrypted to `key` (compact JWE, five parts)."""
    header = {"alg": jwk["alg"], "enc": CONTENT_ENCRYPTION, "cty": "JWT", "kid": jwk["kid"]}
    return jwe.encrypt_compact(header, signed_jwt.encode("ascii"), key, registry=_REGISTRY)


def decrypt_nested(token: str, key: Any) -> str:
    """The signed JWT inside a nested JWT encrypted to `key` (a joserfc key of ours, or a
    private JWK as a dict). Raises InvalidToken."""
    if len(token) > MAX_JWE_LENGTH or token.count(".") != 4:
        raise InvalidToken("not a compact JWE")
    try:
        decrypted = jwe.decrypt_compact(token, key, registry=_REGISTRY)
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidToken(f"the token does not decrypt: {type(exc).__name__}") from None
    if str(decrypted.protected.get("cty", "")).upper() != "JWT":
        raise InvalidToken('an encrypted access token has cty "JWT"')
    try:
        inner = decrypted.plaintext.decode("ascii") if decrypted.plaintext is not None else ""
    except UnicodeDecodeError:
        raise InvalidToken("the encrypted token does not hold a JWT") from None
    if inner.count(".") != 2:
        raise InvalidToken("the encrypted token does not hold a signed JWT")
    return inner


def decryption_key(value: Any) -> Any:
    """A private key for `decrypt_nested`, from a JWK dict, PEM text or bytes, or a
    joserfc key. Raises ValueError."""
    if isinstance(value, (RSAKey, ECKey)):
        key = value
    elif isinstance(value, Mapping):
        kty = value.get("kty")
        if kty not in KEY_ALGORITHMS:
            raise ValueError("decryption_key must be an RSA or EC private key")
        key = (RSAKey if kty == "RSA" else ECKey).import_key(dict(value))
    elif isinstance(value, (str, bytes)):
        try:
            key = RSAKey.import_key(value)
        except (JoseError, ValueError, TypeError):
            key = ECKey.import_key(value)
    else:
        raise ValueError("decryption_key must be a private JWK (dict), PEM, or a joserfc key")
    if not key.is_private:
        raise ValueError("decryption_key must be a private key")
    return key
