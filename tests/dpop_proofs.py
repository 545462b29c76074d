"""DPoP proofs (RFC 9449 §4) made with joserfc, independently of keyplane's own JOSE code."""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, thumbprint


class DpopKey:
    """A client's DPoP key pair, making proofs."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-256")
        self.public = self.key.as_dict(private=False)
        self.jkt = thumbprint(self.public)

    def proof(self, method: str, url: str, *, access_token: str | None = None,
              nonce: str | None = None, iat: float | None = None,
              header: dict[str, Any] | None = None) -> str:
        claims: dict[str, Any] = {"jti": str(uuid.uuid4()), "htm": method, "htu": url,
                                  "iat": int(iat if iat is not None else time.time())}
        if access_token is not None:
            claims["ath"] = base64.urlsafe_b64encode(
                hashlib.sha256(access_token.encode()).digest()).rstrip(b"=").decode()
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public, **(header or {})},
                          claims, self.key)
