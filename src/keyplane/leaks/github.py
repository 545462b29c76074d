"""The code host's secret-scanning partner program: a report's signature.

The host signs the raw body with ECDSA P-256 / SHA-256 and sends the base64 DER signature in
`GITHUB-PUBLIC-KEY-SIGNATURE`, naming its key in `GITHUB-PUBLIC-KEY-IDENTIFIER`. The keys
come from the JSON file named by `KEYPLANE_GITHUB_SCANNING_KEYS` (the host's published
`{"public_keys": [{"key_identifier", "key", "is_current"}]}`), read again when it changes,
so a rotation at the host needs only a new file.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

log = logging.getLogger("keyplane.leaks")

MAX_SIGNATURE_LENGTH = 512
MAX_IDENTIFIER_LENGTH = 256


class ScanningKeys:
    """The public keys of the file, by identifier (P-256 only)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}

    def _load(self) -> dict[str, ec.EllipticCurvePublicKey]:
        if self._path is None:
            return {}
        try:
            stat = os.stat(self._path)
        except OSError:
            log.warning("KEYPLANE_GITHUB_SCANNING_KEYS names %s, which cannot be read", self._path)
            return {}
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return self._keys
        keys: dict[str, ec.EllipticCurvePublicKey] = {}
        try:
            for entry in json.loads(self._path.read_text(encoding="utf-8"))["public_keys"]:
                key = load_pem_public_key(str(entry["key"]).encode())
                if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
                    keys[str(entry["key_identifier"])] = key
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("cannot read the secret-scanning keys in %s: %s", self._path, exc)
            return {}
        self._keys, self._stamp = keys, stamp
        return keys

    def verify(self, body: bytes, key_identifier: str | None, signature: str | None) -> bool:
        """Whether `signature` (base64 DER) over `body` verifies with the named key."""
        if not key_identifier or not signature or len(signature) > MAX_SIGNATURE_LENGTH \
                or len(key_identifier) > MAX_IDENTIFIER_LENGTH:
            return False
        key = self._load().get(key_identifier)
        if key is None:
            return False
        try:
            key.verify(base64.b64decode(signature, validate=True), body, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True
