"""Webhook secrets: `whsec_` + base64 of 32 random bytes (the Standard Webhooks form),
kept sealed at rest, and the `webhook-signature` header they make.

A secret must sign every delivery, so it is encrypted, not hashed: AES-256-GCM under a key
derived (HKDF) from KEYPLANE_SECRET_KEY, with the webhook's id as associated data so a
sealed secret copied to another row does not open (as oauth/signing_keys.py does for
private keys).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keyplane.credentials.hashing import derive_subkey
from keyplane.errors import ConfigError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
SEALING_PURPOSE = "keyplane webhook-secret encryption v1"
_NONCE_BYTES = 12


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    """The key a secret stands for: the base64 after `whsec_` (what receivers decode)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature_header(signing_secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per secret, space-separated."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(secret_bytes(s), signed, hashlib.sha256).digest()).decode()
        for s in signing_secrets)


class SecretBox:
    def __init__(self, secret_key: bytes) -> None:
        self._aead = AESGCM(derive_subkey(secret_key, SEALING_PURPOSE))

    def __repr__(self) -> str:
        return "SecretBox(...)"

    def seal(self, webhook_id: str, secret: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, secret.encode(), webhook_id.encode())

    def open(self, webhook_id: str, sealed: bytes) -> str:
        try:
            plain = self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], webhook_id.encode())
        except InvalidTag:
            raise ConfigError(f"the secret of webhook {webhook_id} does not decrypt with this "
                              "KEYPLANE_SECRET_KEY") from None
        return plain.decode()
