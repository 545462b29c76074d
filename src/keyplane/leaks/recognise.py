"""Which keyplane secret a string is, offline: its prefix names the kind, its checksum
proves it was issued in keyplane's key format (`keys/format.py`), so a look-alike with the
right prefix and a wrong checksum is never recognised.

Every secret keyplane issues has that format, `<prefix>_<22 base62><6 base62 CRC32>`: API
keys (the API's prefix), root keys (`kp_root`, the admin API's prefix), client secrets
(`kp_cs`) and refresh tokens (`kp_rt`). Opaque access tokens (`kp_at`) and device codes
(`kp_dc`) share the format but live for minutes, so they are not reported as leaks. A
`KEYPLANE_ROOT_KEY` chosen by an operator is any string, so it cannot be recognised.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from keyplane.keys.format import is_well_formed

Kind = Literal["api_key", "root_key", "client_secret", "refresh_token"]

ROOT_KEY_PREFIX = "kp_root"  # keys.model.ADMIN_KEY_PREFIX
CLIENT_SECRET_PREFIX = "kp_cs"  # oauth.clients.SECRET_PREFIX
REFRESH_TOKEN_PREFIX = "kp_rt"  # oauth.refresh_tokens.REFRESH_PREFIX
SHORT_LIVED_PREFIXES = frozenset({"kp_at", "kp_dc"})  # opaque access tokens, device codes

_KINDS: dict[str, Kind] = {
    ROOT_KEY_PREFIX: "root_key",
    CLIENT_SECRET_PREFIX: "client_secret",
    REFRESH_TOKEN_PREFIX: "refresh_token",
}


@dataclass(frozen=True, slots=True)
class Recognised:
    kind: Kind
    token_hash: str  # SHA-256 hex of the token: safe to print, report and compare


def recognise(token: str) -> Recognised | None:
    """The kind and hash of a keyplane secret; None for anything else. No I/O."""
    if not token.isascii() or not is_well_formed(token):
        return None
    prefix = token.rpartition("_")[0]
    if prefix in SHORT_LIVED_PREFIXES:
        return None
    return Recognised(kind=_KINDS.get(prefix, "api_key"),
                      token_hash=hashlib.sha256(token.encode("ascii")).hexdigest())
