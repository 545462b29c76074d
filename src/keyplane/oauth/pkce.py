"""PKCE (RFC 7636), S256 only: `plain` would send the secret itself through the browser.

`code_challenge = BASE64URL(SHA256(ASCII(code_verifier)))` (§4.2): always 43 characters.
A `code_verifier` is 43 to 128 unreserved characters (§4.1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

S256 = "S256"
CODE_CHALLENGE_METHODS = (S256,)
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")


def is_code_challenge(value: str) -> bool:
    return _CHALLENGE.fullmatch(value) is not None


def is_code_verifier(value: str) -> bool:
    return _VERIFIER.fullmatch(value) is not None


def s256(code_verifier: str) -> str:
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def verifier_matches(code_verifier: str, code_challenge: str) -> bool:
    """Whether `code_verifier` is well-formed and hashes to `code_challenge` (§4.6),
    compared in constant time."""
    if not is_code_verifier(code_verifier):
        return False
    return hmac.compare_digest(s256(code_verifier).encode(), code_challenge.encode())
