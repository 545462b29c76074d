"""DPoP at a resource server (RFC 9449 §7): a token bound to a key (`cnf.jkt`) is accepted
only with the `DPoP` scheme and a fresh proof of that key for this very request (`htm`,
`htu`, `ath`, `iat`), never twice.

The replay cache is this process's (proofs live `MAX_AGE_SECONDS`; an API of several
processes may pass `dpop_nonce_key=` so that proofs must also carry a nonce it issued,
which bounds a replay to a nonce window). Refusals carry a `WWW-Authenticate: DPoP`
challenge (§7.1), `use_dpop_nonce` with a `DPoP-Nonce` header where a nonce is missing.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from keyplane.errors import InvalidToken
from keyplane.jose.dpop import (
    LEEWAY_SECONDS,
    MAX_AGE_SECONDS,
    SIGNING_ALGORITHMS,
    DpopNonces,
    replay_key,
    verify_proof,
)
from keyplane.sdk.errors import AuthError, _quoted
from keyplane.sdk.principal import Principal

INVALID_DPOP_PROOF = "invalid_dpop_proof"
USE_DPOP_NONCE = "use_dpop_nonce"
_MAX_SEEN = 100_000


def dpop_challenge(realm: str | None, error: str | None = None, description: str = "") -> str:
    """A `WWW-Authenticate: DPoP` value (RFC 9449 §7.1)."""
    params = []
    if realm:
        params.append(f"realm={_quoted(realm)}")
    params.append(f"algs={_quoted(' '.join(SIGNING_ALGORITHMS))}")
    if error:
        params.append(f"error={_quoted(error)}")
        if description:
            params.append(f"error_description={_quoted(description)}")
    return "DPoP " + ", ".join(params)


def refusal(error: str, description: str, realm: str | None,
            headers: dict[str, str] | None = None) -> AuthError:
    return AuthError(401, error, description,
                     {"WWW-Authenticate": dpop_challenge(realm, error, description), **(headers or {})})


class ProofChecker:
    def __init__(self, *, realm: str | None, nonce_key: bytes | None) -> None:
        self._realm = realm
        self._nonces = DpopNonces(nonce_key) if nonce_key is not None else None
        self._seen: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def check(self, principal: Principal, token: str, *, dpop_scheme: bool, method: str | None,
              url: str | None, proof: str | None, now: float) -> None:
        """Raises AuthError unless the token's binding, if any, is proven."""
        jkt = _bound_key(principal.claims)
        if jkt is None:
            if dpop_scheme:
                raise refusal("invalid_token", "this access token is not DPoP-bound: send it "
                              "as Bearer", self._realm)
            return
        if not dpop_scheme:
            raise refusal("invalid_token", "this access token is DPoP-bound: send it with the "
                          "DPoP scheme and a proof", self._realm)
        if proof is None:
            raise refusal(INVALID_DPOP_PROOF, "send a DPoP proof for this request", self._realm)
        if method is None or url is None:
            raise refusal(INVALID_DPOP_PROOF, "the verifier was not told the request's method "
                          "and URL", self._realm)
        try:
            checked = verify_proof(proof, method=method.upper(), urls=(url,), now=now,
                                   access_token=token)
        except InvalidToken as exc:
            raise refusal(INVALID_DPOP_PROOF, str(exc), self._realm) from None
        if checked.jkt != jkt:
            raise refusal(INVALID_DPOP_PROOF, "the DPoP proof is signed by another key than the "
                          "token is bound to", self._realm)
        if self._nonces is not None and (checked.nonce is None
                                         or not self._nonces.is_fresh(checked.nonce, now)):
            raise refusal(USE_DPOP_NONCE, "send the DPoP proof again with the nonce this API "
                          "issued", self._realm, {"DPoP-Nonce": self._nonces.current(now)})
        self._use(replay_key(checked), now)

    def _use(self, key: bytes, now: float) -> None:
        with self._lock:
            seen = self._seen
            if seen.get(key, 0.0) > now:
                raise refusal(INVALID_DPOP_PROOF, "this DPoP proof was used before: make a new "
                              "one per request", self._realm)
            if len(seen) >= _MAX_SEEN:
                for old in [k for k, until in seen.items() if until <= now]:
                    del seen[old]
                while len(seen) >= _MAX_SEEN:
                    seen.pop(next(iter(seen)))
            seen[key] = now + MAX_AGE_SECONDS + 2 * LEEWAY_SECONDS


def _bound_key(claims: Mapping[str, Any]) -> str | None:
    cnf = claims.get("cnf")
    if cnf is None:
        return None
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    # A `cnf` this verifier cannot check (another confirmation method) is refused, not ignored.
    return jkt if isinstance(jkt, str) else ""
