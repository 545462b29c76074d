"""The JWS algorithms keyplane signs and verifies with (RFC 7518 §3, RFC 8037 §3.1), on
`cryptography`: ES256 (the default), EdDSA (Ed25519) and RS256.

`ALGORITHMS` is the whole table. `none` and the HMAC family are absent on purpose, and not
only from a default list: a token can name only an algorithm of this table, and a key
carries its own algorithm, so a public key can never be used as an HMAC secret
(RFC 8725 §2.1, §3.1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

ES256 = "ES256"
EDDSA = "EdDSA"
RS256 = "RS256"

MIN_RSA_BITS = 2048  # RFC 7518 §3.3: 2048 bits or larger MUST be used
RSA_GENERATED_BITS = 2048  # signing cost grows ~cubically; 2048 is the floor and enough

PrivateKey = ec.EllipticCurvePrivateKey | Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | Ed25519PublicKey | rsa.RSAPublicKey

_SHA256 = hashes.SHA256()
_ECDSA_SHA256 = ec.ECDSA(_SHA256)
_PKCS1V15 = padding.PKCS1v15()
_P256_BYTES = 32


@dataclass(frozen=True, slots=True)
class Algorithm:
    """One JWS algorithm: how it signs, verifies and makes keys, and which keys fit it."""

    name: str
    sign: Callable[[PrivateKey, bytes], bytes]
    verify: Callable[[PublicKey, bytes, bytes], bool]  # never raises for a bad signature
    generate: Callable[[], PrivateKey]
    fits: Callable[[PublicKey | PrivateKey], bool]


def _fits_es256(key: PublicKey | PrivateKey) -> bool:
    return (isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey))
            and isinstance(key.curve, ec.SECP256R1))


def _sign_es256(key: PrivateKey, data: bytes) -> bytes:
    # No isinstance here (an ABC check, ~0.7 µs a token): every signer checked `fits` first.
    key = cast(ec.EllipticCurvePrivateKey, key)
    # RFC 7518 §3.4: the JWS signature is R || S, each 32 bytes big-endian, not DER.
    r, s = decode_dss_signature(key.sign(data, _ECDSA_SHA256))
    return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")


def _verify_es256(key: PublicKey, signature: bytes, data: bytes) -> bool:
    if not isinstance(key, ec.EllipticCurvePublicKey) or len(signature) != 2 * _P256_BYTES:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:_P256_BYTES], "big"),
                               int.from_bytes(signature[_P256_BYTES:], "big"))
    try:
        key.verify(der, data, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True


def _generate_es256() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _fits_eddsa(key: PublicKey | PrivateKey) -> bool:
    # RFC 8037 names Ed448 too; keyplane accepts Ed25519 only (one curve, one code path).
    return isinstance(key, (Ed25519PublicKey, Ed25519PrivateKey))


def _sign_eddsa(key: PrivateKey, data: bytes) -> bytes:
    return cast(Ed25519PrivateKey, key).sign(data)  # `fits` was checked, as for ES256


def _verify_eddsa(key: PublicKey, signature: bytes, data: bytes) -> bool:
    if not isinstance(key, Ed25519PublicKey) or len(signature) != 64:
        return False
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def _generate_eddsa() -> PrivateKey:
    return Ed25519PrivateKey.generate()


def _fits_rs256(key: PublicKey | PrivateKey) -> bool:
    return isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)) and key.key_size >= MIN_RSA_BITS


def _sign_rs256(key: PrivateKey, data: bytes) -> bytes:
    return cast(rsa.RSAPrivateKey, key).sign(data, _PKCS1V15, _SHA256)  # `fits` was checked


def _verify_rs256(key: PublicKey, signature: bytes, data: bytes) -> bool:
    if not isinstance(key, rsa.RSAPublicKey) or len(signature) != (key.key_size + 7) // 8:
        return False
    try:
        key.verify(signature, data, _PKCS1V15, _SHA256)
    except InvalidSignature:
        return False
    return True


def _generate_rs256() -> PrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=RSA_GENERATED_BITS)


ALGORITHMS: Mapping[str, Algorithm] = {
    ES256: Algorithm(ES256, _sign_es256, _verify_es256, _generate_es256, _fits_es256),
    EDDSA: Algorithm(EDDSA, _sign_eddsa, _verify_eddsa, _generate_eddsa, _fits_eddsa),
    RS256: Algorithm(RS256, _sign_rs256, _verify_rs256, _generate_rs256, _fits_rs256),
}
"""Every algorithm keyplane knows, by its JWS `alg` name."""


def algorithm(name: str) -> Algorithm:
    """The algorithm called `name`; raises ValueError for any other (`none`, HS256...)."""
    found = ALGORITHMS.get(name)
    if found is None:
        raise ValueError(f"unsupported JWS algorithm {name!r}; one of {', '.join(ALGORITHMS)}")
    return found


def generate_private_key(alg: str) -> PrivateKey:
    """A fresh private key for `alg` (P-256, Ed25519 or RSA-2048)."""
    return algorithm(alg).generate()


def key_fits(alg: str, key: PublicKey | PrivateKey) -> bool:
    """Whether `key` is of the type and size `alg` needs (P-256 for ES256, Ed25519 for
    EdDSA, RSA of 2048 bits or more for RS256)."""
    found = ALGORITHMS.get(alg)
    return found is not None and found.fits(key)
