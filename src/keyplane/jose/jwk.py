"""JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037 §2): public keys out, public keys in.

Out: `public_jwk` renders one of keyplane's keys for its JWKS, public members only, with
`kid`, `alg` and `use: "sig"`; it is a few lines on `cryptography` and needs no library.

In: `public_keys_from_jwks` reads a JWK Set someone else wrote (a client's registered keys
for `private_key_jwt`, RFC 7523; a JWKS fetched by a verifier) and `public_key_from_jwk` one
JWK (a DPoP proof's `jwk`). That is untrusted input with many edge cases (points off the
curve, short keys, malformed base64url), so this is keyplane's one rule for a JWK and one
bound on a set (`MAX_JWKS_KEYS`), strict member by member: only the three key types keyplane
verifies, public members only, `alg` and `use` consistent with the key; the key itself is
built by `cryptography`, which checks that a point lies on its curve.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc.jwk import thumbprint

from keyplane.errors import FieldError, Invalid
from keyplane.jose.algorithms import (
    EDDSA,
    ES256,
    RS256,
    PrivateKey,
    PublicKey,
    key_fits,
)
from keyplane.jose.jws import b64url_encode

MAX_JWKS_KEYS = 10
"""The one bound on a JWK Set keyplane reads (a client's registered keys, a JWKS fetched by
the verifier SDK): what a client needs for a rotation with room to spare, and well above
the 2 to 3 keys keyplane itself publishes when it rotates every 30 days (a retired key stays
published one day). Each key costs a public-key import per read."""
MAX_KID_LENGTH = 128
MAX_KEY_OPS = 10
MAX_X5C = 10
RSA_BITS = (2048, 8192)  # RFC 7518 §3.3: 2048 or larger; 8192 bounds the verification cost
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
"""RFC 7518 §6.2.2, §6.3.2, §6.4 and RFC 8037 §2: members that only a private (or
symmetric) key has. A JWK holding one is refused outright, never silently trimmed: whoever
sent it has leaked it."""
OPTIONAL_MEMBERS = frozenset({"kid", "use", "alg", "key_ops", "ext", "x5c", "x5t", "x5t#S256"})
"""The members a public signature key may have besides its own (`PUBLIC_MEMBERS`)."""

# kty, crv -> the one algorithm keyplane verifies with such a key, and its public members.
_TYPES: dict[tuple[str, str | None], tuple[str, tuple[str, ...]]] = {
    ("EC", "P-256"): (ES256, ("crv", "x", "y")),
    ("OKP", "Ed25519"): (EDDSA, ("crv", "x")),
    ("RSA", None): (RS256, ("n", "e")),
}
PUBLIC_MEMBERS = {kty: members for (kty, _crv), (_alg, members) in _TYPES.items()}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


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
    """`(kid, alg, public key)` of one JWK, checked by keyplane's one rule for a JWK; a JWK
    without `kid` gets its RFC 7638 thumbprint. Raises Invalid naming `where` and, when one
    member is at fault, that member (`jwk.alg`).

    The rule: an EC P-256 (ES256), OKP Ed25519 (EdDSA) or RSA key of 2048 to 8192 bits
    (RS256) with no private member; `alg`, when given, that key's; `use` `sig`; `key_ops`, when
    given, including `verify`; `kid` 1 to 128 printable ASCII characters; `ext`, `x5c`,
    `x5t` well-typed; coordinates canonical base64url of the curve's length, on the curve;
    an RSA exponent odd, at least 3, at most 32 bits.
    """
    if not isinstance(jwk, Mapping):
        raise Invalid.field(where, "must be a JSON object (a JWK)")
    refuse_private(jwk, where)
    kty, crv = jwk.get("kty"), jwk.get("crv")
    found = (_TYPES.get((kty, crv if kty != "RSA" else None))
             if isinstance(kty, str) and (crv is None or isinstance(crv, str)) else None)
    if not isinstance(kty, str) or found is None or (kty == "RSA" and crv is not None):
        raise Invalid.field(f"{where}.kty", "must be EC with crv P-256, OKP with crv Ed25519, or RSA")
    alg, members = found
    problem = _optional_member_problem(jwk, alg)
    if problem is not None:
        member, message = problem
        raise Invalid.field(f"{where}.{member}", message)
    public_members = public_members_of(jwk, kty, members, where)
    key = _public_key(kty, public_members)
    if isinstance(key, str):
        raise Invalid.field(where, key)
    kid = jwk.get("kid")
    return (kid if kid is not None else thumbprint(dict(public_members))), alg, key


def refuse_private(jwk: Mapping[str, Any], where: str) -> None:
    """Raise Invalid when `jwk` holds a private member (any key, signature or encryption)."""
    leaked = [m for m in PRIVATE_MEMBERS if m in jwk]
    if leaked:
        raise Invalid.field(f"{where}.{leaked[0]}",
                            f"private key material ({', '.join(leaked)}): register the public key "
                            "only (and replace this key, it has been disclosed)")


def public_members_of(jwk: Mapping[str, Any], kty: str, members: Sequence[str], where: str) -> dict[str, str]:
    """`kty` and the public `members` of `jwk`, each a non-empty string of at most 2048
    characters; raises Invalid naming the first that is not."""
    found = {"kty": kty}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str) or not value or len(value) > 2048:
            raise Invalid.field(f"{where}.{name}", "must be a base64url string")
        found[name] = value
    return found


def _optional_member_problem(jwk: Mapping[str, Any], alg: str) -> tuple[str, str] | None:
    """`(member, why)` for the first optional member `jwk` may not have as it is."""
    if jwk.get("alg", alg) != alg:
        return "alg", f"must be {alg} for a key of this kty and crv"
    if jwk.get("use", "sig") != "sig":
        return "use", 'must be "sig": these keys verify signatures'
    ops = jwk.get("key_ops")
    if ops is not None and not (isinstance(ops, list) and "verify" in ops and len(ops) <= MAX_KEY_OPS
                                and all(isinstance(op, str) and len(op) <= 32 for op in ops)):
        return "key_ops", 'must be a list of operations that includes "verify"'
    kid = jwk.get("kid")
    if kid is not None and not (isinstance(kid, str) and 1 <= len(kid) <= MAX_KID_LENGTH
                                and kid.isascii() and kid.isprintable()):
        return "kid", f"must be 1 to {MAX_KID_LENGTH} printable ASCII characters"
    if not isinstance(jwk.get("ext", True), bool):
        return "ext", "must be true or false"
    x5c = jwk.get("x5c", [])
    if not isinstance(x5c, list) or len(x5c) > MAX_X5C or not all(isinstance(c, str) for c in x5c):
        return "x5c", "must be a list of base64 certificates"
    for member in ("x5t", "x5t#S256"):
        value = jwk.get(member, "")
        if not isinstance(value, str) or len(value) > 64:
            return member, "must be a base64url thumbprint"
    return None


def _b64url(value: str) -> bytes | None:
    """Base64url without padding (RFC 7515 §2), canonical; None for anything else."""
    if _B64URL.fullmatch(value) is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:  # binascii.Error is a ValueError
        return None
    return raw if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == value else None


def _public_key(kty: str, members: Mapping[str, str]) -> PublicKey | str:
    """The public key the (type-checked) members make, or why they make none."""
    try:
        if kty == "EC":
            x, y = _b64url(members["x"]), _b64url(members["y"])
            if x is None or y is None or len(x) != 32 or len(y) != 32:
                return "x and y must be 32 bytes each, base64url without padding"
            return ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                                 ec.SECP256R1()).public_key()
        if kty == "OKP":
            x = _b64url(members["x"])
            if x is None or len(x) != 32:
                return "x must be 32 bytes, base64url without padding"
            return Ed25519PublicKey.from_public_bytes(x)
        n, e = _b64url(members["n"]), _b64url(members["e"])
        if not n or not e:
            return "n and e must be base64url without padding"
        modulus, exponent = int.from_bytes(n, "big"), int.from_bytes(e, "big")
        if not RSA_BITS[0] <= modulus.bit_length() <= RSA_BITS[1]:
            return f"not a usable RSA key: n must be {RSA_BITS[0]} to {RSA_BITS[1]} bits"
        if exponent < 3 or exponent % 2 == 0 or exponent.bit_length() > 32:
            return "e must be an odd exponent of at least 3 (65537 is usual)"
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    except ValueError:  # off the curve, or numbers no key has
        return f"not a valid {kty} public key"


def public_keys_from_jwks(jwks: Any, *, skip_unusable: bool = False) -> dict[str, tuple[str, PublicKey]]:
    """The keys of a JWK Set as `{kid: (alg, public key)}`, what `jws.verify_compact` takes.

    At most `MAX_JWKS_KEYS` keys; every key must pass `public_key_from_jwk`, and kids must
    be unique. Raises Invalid naming every offending member (`jwks.keys[1].d`...), one a
    key. With `skip_unusable` (a JWKS read from elsewhere, RFC 7517 §5), keys keyplane
    cannot use are left out instead.
    """
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise Invalid.field("jwks", 'must be a JWK Set: {"keys": [...]}')
    entries = jwks["keys"]
    if len(entries) > MAX_JWKS_KEYS:
        raise Invalid.field("jwks.keys", f"at most {MAX_JWKS_KEYS} keys")
    found: dict[str, tuple[str, PublicKey]] = {}
    errors: list[FieldError] = []
    for i, entry in enumerate(entries):
        where = f"jwks.keys[{i}]"
        try:
            kid, alg, key = public_key_from_jwk(entry, where=where)
        except Invalid as exc:
            errors.extend(exc.errors)
            continue
        if kid in found:
            errors.append(FieldError(f"{where}.kid", "must be unique within the set"))
            continue
        found[kid] = (alg, key)
    if errors and not skip_unusable:
        raise Invalid(errors)
    return found
