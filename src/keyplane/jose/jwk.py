"""JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037 §2): public keys out, public keys in.

Out: `public_jwk` renders one of keyplane's keys for its JWKS, public members only, with
`kid`, `alg` and `use: "sig"`; it is a few lines on `cryptography` and needs no library.

In: `public_keys_from_jwks` reads a JWK Set someone else wrote (a client's registered keys
for `private_key_jwt`, RFC 7523; a JWKS fetched by a verifier). That is untrusted input with
many edge cases (points off the curve, short keys, malformed base64url), so the parsing
itself is joserfc's, behind keyplane's own, stricter rules: only the three key types
keyplane verifies, public members only, `alg` and `use` consistent with the key.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey, thumbprint

from keyplane.errors import Invalid
from keyplane.jose.algorithms import (
    EDDSA,
    ES256,
    RS256,
    PrivateKey,
    PublicKey,
    key_fits,
)
from keyplane.jose.jws import b64url_encode

MAX_JWKS_KEYS = 20
MAX_KID_LENGTH = 128
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
"""RFC 7518 §6.2.2, §6.3.2, §6.4 and RFC 8037 §2: members that only a private (or
symmetric) key has. A JWK holding one is refused outright, never silently trimmed: whoever
sent it has leaked it."""

# kty, crv -> the one algorithm keyplane verifies with such a key, and its public members.
_TYPES: dict[tuple[str, str | None], tuple[str, tuple[str, ...]]] = {
    ("EC", "P-256"): (ES256, ("crv", "x", "y")),
    ("OKP", "Ed25519"): (EDDSA, ("crv", "x")),
    ("RSA", None): (RS256, ("n", "e")),
}
_IMPORTERS: dict[str, type[ECKey | OKPKey | RSAKey]] = {
    "EC": ECKey, "OKP": OKPKey, "RSA": RSAKey}


def _uint(value: int) -> str:
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def public_jwk(key: PublicKey | PrivateKey, *, kid: str, alg: str) -> dict[str, str]:
    """The public JWK of `key` (given its public or private half), with `kid`, `alg` and
    `use: "sig"`. Raises ValueError when `key` does not fit `alg`."""
    if not key_fits(alg, key):
        raise ValueError(f"this key does not fit {alg}")
    public = key.public_key() if isinstance(
        key, (ec.EllipticCurvePrivateKey, Ed25519PrivateKey, rsa.RSAPrivateKey)) else key
    members: dict[str, str]
    if isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        members = {"kty": "EC", "crv": "P-256", "x": b64url_encode(numbers.x.to_bytes(32, "big")),
                   "y": b64url_encode(numbers.y.to_bytes(32, "big"))}
    elif isinstance(public, Ed25519PublicKey):
        members = {"kty": "OKP", "crv": "Ed25519",
                   "x": b64url_encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw))}
    else:
        numbers_rsa = public.public_numbers()
        members = {"kty": "RSA", "n": _uint(numbers_rsa.n), "e": _uint(numbers_rsa.e)}
    return {**members, "kid": kid, "alg": alg, "use": "sig"}


def public_key_from_jwk(jwk: Any, *, where: str = "jwk") -> tuple[str, str, PublicKey]:
    """`(kid, alg, public key)` of one JWK, checked by keyplane's rules; a JWK without
    `kid` gets its RFC 7638 thumbprint. Raises Invalid naming `where` and the member."""
    if not isinstance(jwk, Mapping):
        raise Invalid.field(where, "must be a JSON object (a JWK)")
    leaked = [m for m in PRIVATE_MEMBERS if m in jwk]
    if leaked:
        raise Invalid.field(f"{where}.{leaked[0]}",
                            "private key material: register the public key only (and replace "
                            "this key, it has been disclosed)")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    found = _TYPES.get((kty, crv if kty != "RSA" else None)) if isinstance(kty, str) else None
    if not isinstance(kty, str) or found is None or (kty == "RSA" and crv is not None):
        raise Invalid.field(f"{where}.kty", "must be EC with crv P-256, OKP with crv Ed25519, or RSA")
    alg, members = found
    if jwk.get("alg", alg) != alg:
        raise Invalid.field(f"{where}.alg", f"must be {alg} for a key of this kty and crv")
    if jwk.get("use", "sig") != "sig":
        raise Invalid.field(f"{where}.use", 'must be "sig"')
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise Invalid.field(f"{where}.key_ops", 'must include "verify"')
    public_members: dict[str, str | list[str]] = {"kty": kty}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str) or not value or len(value) > 2048:
            raise Invalid.field(f"{where}.{name}", "must be a base64url string")
        public_members[name] = value
    try:
        with warnings.catch_warnings():
            # joserfc warns about weak keys; keyplane's own size rule below decides.
            warnings.simplefilter("ignore")
            imported = _IMPORTERS[kty].import_key(public_members)
        key = imported.get_op_key("verify")
    except (JoseError, ValueError, TypeError) as exc:
        raise Invalid.field(where, f"not a valid {kty} public key") from exc
    if not isinstance(key, (ec.EllipticCurvePublicKey, Ed25519PublicKey, rsa.RSAPublicKey)):
        raise Invalid.field(where, f"not a {kty} public key")
    if not key_fits(alg, key):
        raise Invalid.field(where, "RSA keys must have at least 2048 bits")
    kid = jwk.get("kid")
    if kid is None:
        kid = thumbprint(dict(public_members))
    elif not isinstance(kid, str) or not 1 <= len(kid) <= MAX_KID_LENGTH:
        raise Invalid.field(f"{where}.kid", f"must be a string of 1 to {MAX_KID_LENGTH} characters")
    return kid, alg, key


def public_keys_from_jwks(jwks: Any, *, skip_unusable: bool = False) -> dict[str, tuple[str, PublicKey]]:
    """The keys of a JWK Set as `{kid: (alg, public key)}`, what `jws.verify_compact` takes.

    Every key must pass `public_key_from_jwk`, and kids must be unique; raises Invalid
    naming the first offending member (`jwks.keys[1].d`...). With `skip_unusable` (a JWKS
    read from elsewhere, RFC 7517 §5), keys keyplane cannot use are left out instead.
    """
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise Invalid.field("jwks", 'must be a JWK Set: {"keys": [...]}')
    entries = jwks["keys"]
    if len(entries) > MAX_JWKS_KEYS:
        raise Invalid.field("jwks.keys", f"at most {MAX_JWKS_KEYS} keys")
    found: dict[str, tuple[str, PublicKey]] = {}
    for i, entry in enumerate(entries):
        where = f"jwks.keys[{i}]"
        try:
            kid, alg, key = public_key_from_jwk(entry, where=where)
        except Invalid:
            if skip_unusable:
                continue
            raise
        if kid in found:
            if skip_unusable:
                continue
            raise Invalid.field(f"{where}.kid", "two keys have this kid")
        found[kid] = (alg, key)
    return found
