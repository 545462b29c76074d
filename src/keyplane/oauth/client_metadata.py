"""The rules of client metadata (RFC 7591 §2): names, redirect URIs, audiences, scopes and
the JWK Set of a private_key_jwt client, one value at a time.

Input reaches here from any edge (HTTP, CLI, tests), so each check takes `object` and
answers why the value cannot be used, in words a client's developer can act on, or None.
How the values combine is `keyplane.oauth.clients.check_client`.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import unicodedata
from typing import Any
from urllib.parse import SplitResult, urlsplit

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from keyplane.errors import FieldError
from keyplane.oauth.scopes import SCOPE_TOKEN

MAX_SCOPE_LENGTH = 128
MAX_NAME_LENGTH = 200
MAX_KID_LENGTH = 128
MAX_URI_LENGTH = 2000
MAX_JWKS_KEYS = 10
MAX_JWKS_BYTES = 16 * 1024
RSA_BITS = (2048, 8192)  # RFC 7518 §3.3: 2048 or larger; 8192 bounds the verification cost
# RFC 3986 §2: only these characters, and `%` only as a percent-encoding.
_URI = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_KEY_MEMBERS = {"EC": ("crv", "x", "y"), "OKP": ("crv", "x"), "RSA": ("n", "e")}
_OPTIONAL_MEMBERS = frozenset({"kid", "use", "alg", "key_ops", "ext", "x5c", "x5t", "x5t#S256"})
_ALGORITHMS = {"EC": "ES256", "OKP": "EdDSA", "RSA": "RS256"}


def scope_error(value: object) -> str | None:
    """Why `value` cannot be a scope (RFC 6749 §3.3 scope-token), or None."""
    if not isinstance(value, str) or len(value) > MAX_SCOPE_LENGTH or SCOPE_TOKEN.fullmatch(value) is None:
        return (f"a scope is 1 to {MAX_SCOPE_LENGTH} printable ASCII characters other than "
                'space, " and \\ (RFC 6749 §3.3)')
    return None


def text_error(value: object) -> str | None:
    """Why `value` cannot be a client's name, or None."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME_LENGTH:
        return f"must be 1 to {MAX_NAME_LENGTH} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in value):
        return "must not contain control characters or lone surrogates"
    return None


def _absolute_uri(uri: object) -> tuple[SplitResult | None, str]:
    if not isinstance(uri, str) or not 1 <= len(uri) <= MAX_URI_LENGTH:
        return None, f"must be a URI of 1 to {MAX_URI_LENGTH} characters"
    if _URI.fullmatch(uri) is None:
        return None, ("must be an ASCII URI without spaces (percent-encode other characters "
                      "as UTF-8, RFC 3986)")
    if "#" in uri:
        return None, "must not contain a fragment"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a port
    except ValueError:
        return None, "is not a valid URI"
    if _SCHEME.fullmatch(parts.scheme) is None:
        return None, "must be an absolute URI, starting with a scheme such as https:"
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        if "@" in parts.netloc:
            return None, "must not contain user credentials"
        if ":" in host:
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                return None, "has an invalid IPv6 address"
            if "%" in host:
                return None, "must not name an IPv6 zone"
        elif _HOST.fullmatch(host) is None:
            return None, "needs a valid host name"
    return parts, ""


def resource_uri_error(uri: object) -> str | None:
    """Why `uri` cannot be an audience (RFC 8707 §2: an absolute URI without fragment)."""
    return _absolute_uri(uri)[1] or None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_error(uri: object) -> str | None:
    """Why `uri` cannot be a redirect URI, or None: absolute, no fragment (RFC 6749
    §3.1.2), and https, http on a loopback address, or a private-use scheme in
    reverse-domain form for native apps (RFC 8252 §7.1, §7.3; RFC 9700 §2.6)."""
    parts, problem = _absolute_uri(uri)
    if parts is None:
        return problem
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname or "")):
        return None
    if parts.scheme == "http":
        return ("http is allowed only for loopback redirects of native apps (127.0.0.1, [::1] "
                "or localhost; RFC 8252 §7.3): use https")
    if "." in parts.scheme:
        return None
    return ("must use https, http on a loopback address, or a private-use scheme in "
            "reverse-domain form such as com.example.app:/callback (RFC 8252 §7.1)")


def jwks_errors(jwks: object) -> list[FieldError]:
    """What is wrong with `jwks` as a private_key_jwt client's key set: a JWK Set (RFC
    7517 §5) of 1 to 10 public signature keys, EC P-256, OKP Ed25519 or RSA (2048+ bits)."""
    if not isinstance(jwks, dict) or set(jwks) != {"keys"} or not isinstance(jwks["keys"], list):
        return [FieldError("jwks", 'must be a JWK Set, {"keys": [...]}, with no other member')]
    keys = jwks["keys"]
    if not 1 <= len(keys) <= MAX_JWKS_KEYS:
        return [FieldError("jwks.keys", f"must hold 1 to {MAX_JWKS_KEYS} keys")]
    errors = []
    kids: set[str] = set()
    for i, jwk in enumerate(keys):
        problem = _jwk_error(jwk)
        if problem:
            errors.append(FieldError(f"jwks.keys[{i}]", problem))
        elif "kid" in jwk:
            if jwk["kid"] in kids:
                errors.append(FieldError(f"jwks.keys[{i}].kid", "must be unique within the set"))
            kids.add(jwk["kid"])
    if not errors and len(json.dumps(jwks)) > MAX_JWKS_BYTES:
        errors.append(FieldError("jwks", f"must encode to at most {MAX_JWKS_BYTES} bytes"))
    return errors


def _jwk_error(jwk: object) -> str | None:
    if not isinstance(jwk, dict):
        return "must be a JWK object"
    private = sorted(_PRIVATE_MEMBERS & set(jwk))
    if private:
        return f"holds private key material ({', '.join(private)}): register public keys only"
    kty = jwk.get("kty")
    if not isinstance(kty, str) or kty not in _KEY_MEMBERS:
        return "kty must be EC (P-256), OKP (Ed25519) or RSA"
    unknown = sorted(set(jwk) - {"kty", *_KEY_MEMBERS[kty]} - _OPTIONAL_MEMBERS)
    if unknown:
        return f"has members a public {kty} key does not: {', '.join(m[:40] for m in unknown[:5])}"
    missing = [m for m in _KEY_MEMBERS[kty] if m not in jwk]
    if missing:
        return f"a {kty} key needs {', '.join(missing)}"
    if jwk.get("alg", _ALGORITHMS[kty]) != _ALGORITHMS[kty]:
        return f"alg must be {_ALGORITHMS[kty]} for a {kty} key"
    if jwk.get("use", "sig") != "sig":
        return 'use must be "sig": these keys verify client assertions'
    kid = jwk.get("kid")
    if kid is not None and not (isinstance(kid, str) and 1 <= len(kid) <= MAX_KID_LENGTH
                                and kid.isascii() and kid.isprintable()):
        return f"kid must be 1 to {MAX_KID_LENGTH} printable ASCII characters"
    ops = jwk.get("key_ops")
    if ops is not None and not (isinstance(ops, list) and "verify" in ops and len(ops) <= 10
                                and all(isinstance(op, str) and len(op) <= 32 for op in ops)):
        return 'key_ops must be a list of operations that includes "verify"'
    if not isinstance(jwk.get("ext", True), bool):
        return "ext must be true or false"
    x5c = jwk.get("x5c", [])
    if not isinstance(x5c, list) or len(x5c) > 10 or not all(isinstance(c, str) for c in x5c):
        return "x5c must be a list of base64 certificates"
    if not all(isinstance(jwk.get(m, ""), str) and len(jwk.get(m, "")) <= 64 for m in ("x5t", "x5t#S256")):
        return "x5t and x5t#S256 must be base64url thumbprints"
    return _public_key_error(kty, jwk)


def _b64url(value: object) -> bytes | None:
    """Base64url without padding (RFC 7515 §2), canonical; None for anything else."""
    if not isinstance(value, str) or len(value) > 2048 or _B64URL.fullmatch(value) is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:  # binascii.Error is a ValueError
        return None
    return raw if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == value else None


def _public_key_error(kty: str, jwk: dict[str, Any]) -> str | None:
    try:
        if kty == "EC":
            x, y = _b64url(jwk["x"]), _b64url(jwk["y"])
            if jwk["crv"] != "P-256":
                return "crv must be P-256 for an EC key (ES256)"
            if x is None or y is None or len(x) != 32 or len(y) != 32:
                return "x and y must be 32 bytes each, base64url without padding"
            ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                          ec.SECP256R1()).public_key()
        elif kty == "OKP":
            x = _b64url(jwk["x"])
            if jwk["crv"] != "Ed25519":
                return "crv must be Ed25519 for an OKP key (EdDSA)"
            if x is None or len(x) != 32:
                return "x must be 32 bytes, base64url without padding"
            ed25519.Ed25519PublicKey.from_public_bytes(x)
        else:
            n, e = _b64url(jwk["n"]), _b64url(jwk["e"])
            if not n or not e:
                return "n and e must be base64url without padding"
            modulus, exponent = int.from_bytes(n, "big"), int.from_bytes(e, "big")
            if not RSA_BITS[0] <= modulus.bit_length() <= RSA_BITS[1]:
                return f"n must be {RSA_BITS[0]} to {RSA_BITS[1]} bits"
            if exponent < 3 or exponent % 2 == 0 or exponent.bit_length() > 32:
                return "e must be an odd exponent of at least 3 (65537 is usual)"
            rsa.RSAPublicNumbers(exponent, modulus).public_key()
    except ValueError:
        return "is not a valid public key"
    return None
