"""Password hashing with argon2id (RFC 9106), through argon2-cffi.

Parameters (docs/users.md): RFC 9106 §4's second recommended option, argon2id with
t=3 passes over m=64 MiB with p=4 lanes, a 16-byte salt and a 32-byte tag — memory-hard
enough that a GPU guesses orders of magnitude slower than against a fast hash, while one
login costs tens of milliseconds of one core. Hashes are PHC strings that carry their
parameters, so raising them later is seamless: a login whose hash was made with other
parameters is re-hashed (`needs_rehash`).

Hashing runs in a worker thread (argon2-cffi releases the GIL): the event loop keeps
serving while a password is checked.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # bounds the work a request can ask for


@dataclass(frozen=True, slots=True)
class Argon2Parameters:
    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4
    salt_bytes: int = 16
    hash_bytes: int = 32


class Passwords:
    """Hashes and checks passwords; `check` of an unknown user costs what a known one does."""

    def __init__(self, parameters: Argon2Parameters | None = None) -> None:
        p = parameters or Argon2Parameters()
        self._hasher = PasswordHasher(time_cost=p.time_cost, memory_cost=p.memory_kib,
                                      parallelism=p.parallelism, hash_len=p.hash_bytes,
                                      salt_len=p.salt_bytes, type=Type.ID)
        # A hash of nothing anyone knows, made with the current parameters (on first
        # need): verified against when the username is unknown, so both take the same time.
        self._decoy: str | None = None

    def __repr__(self) -> str:
        return "Passwords(argon2id)"

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def check(self, stored_hash: str | None, password: str) -> tuple[bool, bool]:
        """(whether `password` matches `stored_hash`, whether the hash should be remade
        with the current parameters). `stored_hash` None (no such user) verifies against a
        decoy hash and answers (False, False)."""
        return await asyncio.to_thread(self._check, stored_hash, password)

    def _check(self, stored_hash: str | None, password: str) -> tuple[bool, bool]:
        if stored_hash is None and self._decoy is None:
            self._decoy = self._hasher.hash(secrets.token_urlsafe(24))
        try:
            self._hasher.verify(stored_hash or self._decoy or "", password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False, False
        if stored_hash is None:
            return False, False
        return True, self._hasher.check_needs_rehash(stored_hash)
