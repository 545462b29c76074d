"""What OpenID Connect says about a user (Core 1.0 §5.1, §5.4): the claims each scope
value releases, from the fields a user actually has.

A keyplane user has an id (`sub`) and a username; nothing else a standard claim names (no
display name, no email address), so `profile` releases `preferred_username` and no scope
releases more. A claim is never sent empty or invented: one the user has no value for is
left out (§5.3.2).
"""

from __future__ import annotations

from typing import Any

from keyplane.users.model import User

OPENID = "openid"  # the scope that makes a request an OpenID Connect one (§3.1.2.1)
PROFILE = "profile"
OIDC_SCOPES = (OPENID, PROFILE)

PROMPT_NONE = "none"
PROMPT_LOGIN = "login"
PROMPT_CONSENT = "consent"
PROMPT_VALUES = (PROMPT_NONE, PROMPT_LOGIN, PROMPT_CONSENT)

# Discovery's `claims_supported`: those of the ID token and those scopes release.
CLAIMS_SUPPORTED = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
                    "azp", "preferred_username")


def user_claims(user: User, scope: tuple[str, ...] | frozenset[str]) -> dict[str, Any]:
    """`sub` and the claims the granted `scope` releases about `user`."""
    claims: dict[str, Any] = {"sub": user.id}
    if PROFILE in scope:
        claims["preferred_username"] = user.username
    return claims
