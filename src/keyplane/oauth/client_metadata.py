"""The rules of client metadata (RFC 7591 §2): names, redirect URIs, audiences, scopes and
the JWK Set of a private_key_jwt client, one value at a time.

Input reaches here from any edge (HTTP, CLI, tests), so each check takes `object` and
answers why the value cannot be used, in words a client's developer can act on, or None.
How the values combine is `keyplane.oauth.clients.check_client`.
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from urllib.parse import SplitResult, urlsplit

from keyplane.errors import FieldError, Invalid
from keyplane.jose.jwk import MAX_JWKS_KEYS, OPTIONAL_MEMBERS, PUBLIC_MEMBERS, public_keys_from_jwks
from keyplane.oauth.scopes import SCOPE_TOKEN

MAX_SCOPE_LENGTH = 128
MAX_NAME_LENGTH = 200
MAX_URI_LENGTH = 2000
MAX_JWKS_BYTES = 16 * 1024
# RFC 3986 §2: only these characters, and `%` only as a percent-encoding.
_URI = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_HOST = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")


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
    """What is wrong with `jwks` as a private_key_jwt client's key set: a JWK Set (RFC 7517
    §5) of 1 to `MAX_JWKS_KEYS` keys that keyplane's one JWK rule accepts
    (`jose.jwk.public_keys_from_jwks`), and, since it is stored: no member besides `keys`,
    no member a public signature key does not have (so `x5u`, a URL keyplane would never
    fetch, cannot sneak in), at most `MAX_JWKS_BYTES` encoded."""
    if not isinstance(jwks, dict) or set(jwks) != {"keys"} or not isinstance(jwks["keys"], list):
        return [FieldError("jwks", 'must be a JWK Set, {"keys": [...]}, with no other member')]
    keys = jwks["keys"]
    if not keys:
        return [FieldError("jwks.keys", f"must hold 1 to {MAX_JWKS_KEYS} keys")]
    try:
        public_keys_from_jwks(jwks)
    except Invalid as exc:
        return exc.errors
    errors = []
    for i, jwk in enumerate(keys):
        unknown = sorted(set(jwk) - {"kty", *PUBLIC_MEMBERS[jwk["kty"]]} - OPTIONAL_MEMBERS)
        if unknown:
            errors.append(FieldError(f"jwks.keys[{i}]", f"has members a public {jwk['kty']} key does "
                                     f"not: {', '.join(m[:40] for m in unknown[:5])}"))
    if not errors and len(json.dumps(jwks)) > MAX_JWKS_BYTES:
        errors.append(FieldError("jwks", f"must encode to at most {MAX_JWKS_BYTES} bytes"))
    return errors
