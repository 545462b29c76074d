"""Which keyplane secret a string is, by its prefix and checksum alone (no I/O).

Every secret keyplane issues has the key format (credentials/format.py): `<prefix>_<22 random
base62><6 base62 CRC32 checksum>`. The prefix names the kind: `kp_root` a root key,
`kp_cs` a client secret, `kp_rt` a refresh token, any other an API key (an API's own
prefix). A string of that shape whose checksum does not hold is a look-alike, never a
secret: scanners report nothing for it and leak reports label it a false positive. Opaque
access tokens (`kp_at`) and device codes (`kp_dc`) share the format but live for minutes,
so they are not reported as leaks. A `KEYPLANE_ROOT_KEY` chosen by an operator is any
string, so it cannot be recognised.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from keyplane.credentials.format import display_start, is_well_formed
from keyplane.keys.model import ADMIN_KEY_PREFIX
from keyplane.oauth.clients import SECRET_PREFIX as CLIENT_SECRET_PREFIX
from keyplane.oauth.refresh_tokens import REFRESH_PREFIX

Kind = Literal["api_key", "root_key", "client_secret", "refresh_token"]
_KINDS: dict[str, Kind] = {ADMIN_KEY_PREFIX: "root_key", CLIENT_SECRET_PREFIX: "client_secret",
                           REFRESH_PREFIX: "refresh_token"}
SHORT_LIVED_PREFIXES = frozenset({"kp_at", "kp_dc"})  # opaque access tokens, device codes


@dataclass(frozen=True, slots=True)
class Recognised:
    kind: Kind
    token_hash: str  # SHA-256 hex of the whole token: what reports and findings carry
    start: str  # prefix and first characters: safe to show

    def __repr__(self) -> str:
        return f"Recognised(kind={self.kind!r}, start={self.start!r})"


def token_hash(token: str) -> str:
    """The SHA-256 hex of a token (`token_hash` in leak reports and scan findings)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def recognise(token: str) -> Recognised | None:
    """The kind of keyplane secret `token` is, or None when it is not one (wrong shape, the
    checksum does not hold, or a short-lived token)."""
    if not token.isascii() or not is_well_formed(token):
        return None
    prefix = token.rpartition("_")[0]
    if prefix in SHORT_LIVED_PREFIXES:
        return None
    return Recognised(kind=_KINDS.get(prefix, "api_key"), token_hash=token_hash(token),
                      start=display_start(token))
