"""Keys for the JOSE tests, made once per run (RSA generation is slow)."""

from __future__ import annotations

import functools

from keyplane.jose.algorithms import (
    ALGORITHMS,
    PrivateKey,
    PublicKey,
    generate_private_key,
)
from keyplane.jose.jwk import public_jwk

ALGS = sorted(ALGORITHMS)


def private_key(alg: str, n: int = 0) -> PrivateKey:
    """The `n`-th test key for `alg`."""
    return _made(alg, n)


@functools.cache
def _made(alg: str, n: int) -> PrivateKey:
    return generate_private_key(alg)


def public_key(alg: str, n: int = 0) -> PublicKey:
    return private_key(alg, n).public_key()


def kid_of(alg: str, n: int = 0) -> str:
    return f"test-{alg.lower()}-{n}"


def keys_for(alg: str, n: int = 0) -> dict[str, tuple[str, PublicKey]]:
    """The verification keys of one test key: `{kid: (alg, public key)}`."""
    return {kid_of(alg, n): (alg, public_key(alg, n))}


def jwk_of(alg: str, n: int = 0) -> dict[str, str]:
    return public_jwk(private_key(alg, n), kid=kid_of(alg, n), alg=alg)
