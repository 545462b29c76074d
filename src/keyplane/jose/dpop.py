"""DPoP proofs (RFC 9449 §4.3): checked alike by the token endpoint and by the SDK.

A proof is a JWT with header `typ: dpop+jwt`, an asymmetric `alg` of keyplane's table
(`ALGORITHMS`: ES256, EdDSA, RS256 — never `none` nor an HMAC), and the public key that
signed it as `jwk` (a private member is refused). Its claims name the request: `htm` (the
method), `htu` (the URL without query and fragment), `iat` (recent), a unique `jti`, and at
a resource server `ath`, the hash of the access token it accompanies. The key's RFC 7638
thumbprint (`jkt`) is what a token is bound to (`cnf.jkt`).

Checking the `jti` was not seen before (a replay) and the `nonce` the server issued are the
caller's, who holds the shared state: `DpopProof` hands back both.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from joserfc.jwk import thumbprint

from keyplane.errors import Invalid, InvalidToken
from keyplane.jose.algorithms import ALGORITHMS
from keyplane.jose.jwk import public_key_from_jwk
from keyplane.jose.jws import b64url_decode, b64url_encode, decode_json_object, verify_compact

PROOF_TYPE = "dpop+jwt"
SIGNING_ALGORITHMS = tuple(sorted(ALGORITHMS))  # asymmetric, all of them
MAX_PROOF_LENGTH = 4096
MAX_AGE_SECONDS = 300  # how old a proof's `iat` may be
NONCE_WINDOW_SECONDS = 300
LEEWAY_SECONDS = 5  # how far ahead of our clock its `iat` may be
_MAX_JTI_LENGTH = 256
_KEY_MEMBERS = {"EC": ("crv", "x", "y"), "OKP": ("crv", "x"), "RSA": ("e", "n")}


@dataclass(frozen=True, slots=True)
class DpopProof:
    """A proof whose signature and claims hold: the thumbprint of its key, its `jti`,
    `iat` (seconds) and `nonce` (None when absent)."""

    jkt: str
    jti: str
    issued_at: float
    nonce: str | None


def access_token_hash(token: str) -> str:
    """`ath` (RFC 9449 §4.2): base64url of the SHA-256 of the access token's ASCII."""
    return b64url_encode(hashlib.sha256(token.encode("ascii", "replace")).digest())


def normalized_url(url: str) -> str:
    """An `htu` as compared (RFC 9449 §4.3, RFC 3986 §6.2.2-6.2.3): scheme and host in lower
    case, the default port dropped, an empty path `/`, no query, no fragment."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


def verify_proof(proof: str, *, method: str, urls: tuple[str, ...], now: float,
                 access_token: str | None = None,
                 max_age_seconds: float = MAX_AGE_SECONDS) -> DpopProof:
    """The proof's key thumbprint and `jti` once it holds for a `method` request to one of
    `urls` (the URL as the server knows it may differ from the one the client used, behind
    a proxy) at `now`; with `access_token`, `ath` must be its hash. Raises InvalidToken
    saying what is wrong."""
    if not proof or len(proof) > MAX_PROOF_LENGTH or proof.count(".") != 2:
        raise InvalidToken("the DPoP proof is not a compact JWT")
    try:
        header = decode_json_object(b64url_decode(proof.split(".", 1)[0]))
    except (InvalidToken, ValueError):
        raise InvalidToken("the DPoP proof's header is not a JSON object") from None
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() != PROOF_TYPE:
        raise InvalidToken(f"the DPoP proof's typ must be {PROOF_TYPE}")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise InvalidToken(f"the DPoP proof's alg must be one of {', '.join(SIGNING_ALGORITHMS)}")
    jwk = header.get("jwk")
    try:
        _kid, key_alg, key = public_key_from_jwk(jwk, where="jwk")
    except Invalid as exc:
        raise InvalidToken(f"the DPoP proof's jwk is not a usable public key: {exc.detail}") from None
    assert isinstance(jwk, dict)
    found_kid = header.get("kid")
    kid = found_kid if isinstance(found_kid, str) else "dpop"
    _header, payload_bytes = verify_compact(proof, {kid: (key_alg, key)}, algorithms={alg},
                                            typ=PROOF_TYPE)
    claims = decode_json_object(payload_bytes)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 1 <= len(jti) <= _MAX_JTI_LENGTH:
        raise InvalidToken("the DPoP proof needs a jti")
    if claims.get("htm") != method:
        raise InvalidToken(f"the DPoP proof is not for a {method} request (htm)")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalized_url(htu) not in {normalized_url(u) for u in urls}:
        raise InvalidToken("the DPoP proof is for another URL (htu)")
    iat = claims.get("iat")
    if not isinstance(iat, (int, float)) or isinstance(iat, bool) or not math.isfinite(iat):
        raise InvalidToken("the DPoP proof needs a numeric iat")
    if not now - max_age_seconds - LEEWAY_SECONDS <= iat <= now + LEEWAY_SECONDS:
        raise InvalidToken("the DPoP proof is too old or from the future (iat)")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(ath, access_token_hash(access_token)):
            raise InvalidToken("the DPoP proof is not for this access token (ath)")
    nonce = claims.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise InvalidToken("the DPoP proof's nonce must be a string")
    return DpopProof(jkt=jwk_thumbprint(jwk), jti=jti, issued_at=float(iat), nonce=nonce)


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint of a public JWK (its required members only)."""
    kty = jwk["kty"]
    return thumbprint({"kty": kty, **{m: jwk[m] for m in _KEY_MEMBERS[kty]}})


def replay_key(proof: DpopProof) -> bytes:
    """What the replay cache stores for a proof: its `jti`, scoped to its key."""
    return hashlib.sha256(f"{proof.jkt}\0{proof.jti}".encode("utf-8", "surrogatepass")).digest()


class DpopNonces:
    """Server-issued nonces (RFC 9449 §8), stateless: the number of the current window and
    an HMAC of it under `key`, so every process holding the key issues and accepts the same
    ones with nothing stored. The current and the previous window's nonces are accepted."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def current(self, now: float) -> str:
        return self._for(int(now) // NONCE_WINDOW_SECONDS)

    def _for(self, window: int) -> str:
        packed = struct.pack(">Q", window)
        return b64url_encode(packed + hmac.new(self._key, packed, hashlib.sha256).digest()[:16])

    def is_fresh(self, nonce: str, now: float) -> bool:
        try:
            raw = b64url_decode(nonce)
        except InvalidToken:
            return False
        if len(raw) != 24:
            return False
        (window,) = struct.unpack(">Q", raw[:8])
        current = int(now) // NONCE_WINDOW_SECONDS
        return window in (current, current - 1) and hmac.compare_digest(nonce, self._for(window))
