"""Scopes (RFC 6749 §3.3): space-delimited, case-sensitive tokens."""

from __future__ import annotations

import re

from keyplane.errors import InvalidScope

# scope-token = 1*( %x21 / %x23-5B / %x5D-7E ): printable ASCII but space, " and \
SCOPE_TOKEN = re.compile(r'[\x21\x23-\x5B\x5D-\x7E]+')


def granted_scopes(requested: str | None, *, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """The requested scopes when every one is allowed; all allowed ones when none is asked
    for. Raises InvalidScope naming the first that is not allowed or not a scope."""
    if requested is None or not requested.strip():
        return allowed
    names = tuple(dict.fromkeys(requested.split(" ")))
    for name in names:
        if not name or SCOPE_TOKEN.fullmatch(name) is None:
            raise InvalidScope("scopes are separated by single spaces and use printable ASCII")
        if name not in allowed:
            raise InvalidScope(f"this client may not request the scope {name!r}")
    return names
