"""Typed, prefixed, time-ordered ids: `key_01jd8x…`.

An id is a type prefix plus 26 characters of lowercase Crockford base32 over 128 bits:
48 bits of milliseconds since the epoch, then 80 random bits (the ULID layout). Ids sort
by creation time as plain strings under any collation (digits and lowercase letters only),
so cursor pagination is `WHERE id > :after ORDER BY id` on the primary key. Within one
process, ids of the same millisecond increase in the order they are made.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# RFC 4648 base32hex has the same digit order, in other letters: its text, translated.
_FROM_BASE32HEX = bytes.maketrans(b"0123456789ABCDEFGHIJKLMNOPQRSTUV", _ALPHABET.encode())
# 26 characters carry 130 bits; an id holds 128, so its first character is 0-7.
_ID_RE = re.compile(r"[a-z]{2,8}_[0-7][0-9a-hjkmnp-tv-z]{25}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_RANDOM_MASK = (1 << 80) - 1
_LAST_TWO = [_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024)]  # the low 10 bits


class IdMaker:
    """Makes ids, monotonic within a millisecond (the ULID rule): ids one maker makes in
    the same millisecond sort in the order they were made, so "newest first" means what it
    says. `new_id` is the process's maker; a thread that makes ids in bulk (the usage
    writer, a row a verification) has its own: sharing one lock with the event loop, a
    writer preempted while holding it stalled requests on it (2.4 % of the token
    endpoint's samples, 2026-12-07). Ids of two makers are unique alike (80 random bits).
    """

    __slots__ = ("_lock", "_last", "_head", "_randbits")

    def __init__(self, *, randbits: Callable[[int], int] = secrets.randbits) -> None:
        self._randbits = randbits
        self._lock = threading.Lock()
        self._last = 0
        # The first 24 characters of the last id made, with its value >> 10: ids made in
        # one millisecond are consecutive numbers, so most share them (~1 µs instead of ~3).
        self._head: tuple[int, str] = (-1, "")

    def new_id(self, prefix: str, at: datetime) -> str:
        """A fresh id of this type for an object created at `at` (aware; naive is local time)."""
        # Integer arithmetic: `at.timestamp() * 1000` rounds 0.001 s down to the previous
        # millisecond now and then, and ids made 1 ms apart would then sort by chance.
        if at.tzinfo is None:
            at = at.astimezone()
        millis = ((at - _EPOCH) // _MILLISECOND) & ((1 << 48) - 1)
        with self._lock:
            last = self._last
            if last >> 80 == millis and (last & _RANDOM_MASK) < _RANDOM_MASK:
                value = last + 1
            else:
                value = (millis << 80) | self._randbits(80)
            self._last = value
        head_of, head = self._head
        if value >> 10 == head_of:
            return f"{prefix}_{head}{_LAST_TWO[value & 1023]}"
        text = id_text(value)
        self._head = (value >> 10, text[:24])
        return f"{prefix}_{text}"


new_id = IdMaker().new_id


def first_id_at(prefix: str, at: datetime) -> str:
    """The least id of this type an object created at `at` or later can have: ids made
    in [a, b) are those with `first_id_at(a) <= id < first_id_at(b)`."""
    millis = ((at.astimezone(UTC) - _EPOCH) // _MILLISECOND) & ((1 << 48) - 1)
    return f"{prefix}_{id_text(millis << 80)}"


def id_text(value: int) -> str:
    """The 26 characters of a 128-bit id: its value in base 32, most significant digit
    first (130 bits, the first two 0). Shifted to the top of 160 bits, the value is the
    first 26 digits of base32hex's 32 (~0.5 µs; a digit at a time in Python costs ~2.3)."""
    return base64.b32hexencode((value << 30).to_bytes(20, "big"))[:26].translate(_FROM_BASE32HEX).decode()


def is_id(text: str, prefix: str) -> bool:
    """Whether `text` is well-formed for an id with this prefix (says nothing of existence)."""
    return len(text) == len(prefix) + 27 and text.startswith(prefix + "_") and is_any_id(text)


def is_any_id(text: str) -> bool:
    """Whether `text` is well-formed for an id of any type."""
    return _ID_RE.fullmatch(text) is not None
