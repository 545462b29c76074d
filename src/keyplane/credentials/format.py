"""The API key format: `<prefix>_<random><checksum>`.

- `prefix`: per API, lower-case letters, digits and inner underscores (`sk_live`), so that
  a key names its API to people and to secret scanners.
- `random`: 22 base62 characters drawn uniformly by `secrets` (22·log2 62 ≈ 131 bits).
- `checksum`: CRC32 of `<prefix>_<random>` as 6 base62 digits. A verifier or a scanner
  rejects a mistyped, truncated or look-alike string offline, before any lookup. CRC32
  catches every burst of up to 32 bits, so every single-character change is caught.

The checksum is not a secret and gives no security; the hash of the whole key does.
"""

from __future__ import annotations

import hmac
import re
import secrets
import zlib
from dataclasses import dataclass

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 22
CHECKSUM_LENGTH = 6
START_LENGTH = 4
MAX_KEY_LENGTH = 64

PREFIX_PATTERN = r"[a-z](?:[a-z0-9_]{0,18}[a-z0-9])?"
_PREFIX_RE = re.compile(PREFIX_PATTERN)
_BODY_RE = re.compile(f"[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}")


def is_valid_prefix(prefix: str) -> bool:
    return _PREFIX_RE.fullmatch(prefix) is not None


_PAIRS = [a + b for a in BASE62 for b in BASE62]  # two base62 digits, by value 0..3843


def checksum(text: str) -> str:
    """CRC32 of `text` (ASCII) as fixed-width base62 (six digits: 62**6 > 2**32), two
    digits a table lookup."""
    high, low = divmod(zlib.crc32(text.encode("ascii")), 3844)
    top, middle = divmod(high, 3844)
    return _PAIRS[top] + _PAIRS[middle] + _PAIRS[low]


def generate_key(prefix: str) -> str:
    """A new random key for an API with this prefix."""
    if not is_valid_prefix(prefix):
        raise ValueError(f"invalid key prefix {prefix!r}")
    head = f"{prefix}_{''.join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))}"
    return head + checksum(head)


@dataclass(frozen=True, slots=True)
class ParsedKey:
    prefix: str
    start: str  # prefix + first characters: safe to store, log and display

    def __repr__(self) -> str:  # never the key itself
        return f"ParsedKey(start={self.start!r})"


def parse_key(key: str) -> ParsedKey | None:
    """Split and checksum a key; None when it is malformed. No I/O, no secrets kept."""
    if not is_well_formed(key):
        return None
    return ParsedKey(prefix=key.rpartition("_")[0], start=display_start(key))


def is_well_formed(key: str) -> bool:
    """Whether `key` has a key's shape and checksum (`parse_key` without its answer)."""
    if len(key) > MAX_KEY_LENGTH:
        return False
    prefix, sep, body = key.rpartition("_")
    if not sep or _BODY_RE.fullmatch(body) is None or _PREFIX_RE.fullmatch(prefix) is None:
        return False
    return hmac.compare_digest(checksum(key[: -CHECKSUM_LENGTH]), body[RANDOM_LENGTH:])


def has_key_shape(text: str) -> bool:
    """Whether `text` is laid out as a key (`<prefix>_` and 28 base62 characters), checksum
    aside: a key with a typo in it, which must be treated as the secret it nearly is."""
    if len(text) > MAX_KEY_LENGTH:
        return False
    prefix, sep, body = text.rpartition("_")
    return bool(sep) and _BODY_RE.fullmatch(body) is not None and _PREFIX_RE.fullmatch(prefix) is not None


def display_start(key: str) -> str:
    """The part of a key kept in clear for display: prefix, `_`, first characters.

    Safe to log for any string, not only for well-formed keys: when what precedes the last
    `_` is not a prefix (a pasted password, a mangled key), it may be secret itself, so
    only the first `START_LENGTH` characters are kept.
    """
    prefix, sep, body = key.rpartition("_")
    if not sep or not is_valid_prefix(prefix):
        return key[:START_LENGTH]
    return f"{prefix}_{body[:START_LENGTH]}"
