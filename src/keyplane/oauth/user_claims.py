"""What OpenID Connect says about a user (Core 1.0 §5.1, §5.4): the claims each scope
value releases, from the fields a user actually has.

A keyplane user has an id (`sub`), a username and a profile (users/model.py: an optional
display name and email address), so `profile` releases `name` and `preferred_username`,
and `email` releases `email` with `email_verified`; no other standard claim has a source
here. A claim is never sent empty or invented: one the user has no value for is left out
(§5.3.2), and `email_verified` comes only with an `email` it speaks of.
"""

from __future__ import annotations

from typing import Any

from keyplane.users.model import User

OPENID = "openid"  # the scope that makes a request an OpenID Connect one (§3.1.2.1)
PROFILE = "profile"
EMAIL = "email"
OIDC_SCOPES = (OPENID, PROFILE, EMAIL)

PROMPT_NONE = "none"
PROMPT_LOGIN = "login"
PROMPT_CONSENT = "consent"
PROMPT_VALUES = (PROMPT_NONE, PROMPT_LOGIN, PROMPT_CONSENT)

# Discovery's `claims_supported`: those of the ID token and those scopes release.
CLAIMS_SUPPORTED = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
                    "azp", "name", "preferred_username", "email", "email_verified")


def user_claims(user: User, scope: tuple[str, ...] | frozenset[str]) -> dict[str, Any]:
    """`sub` and the claims the granted `scope` releases about `user`."""
    claims: dict[str, Any] = {"sub": user.id}
    profile = user.profile
    if PROFILE in scope:
        if profile.name is not None:
            claims["name"] = profile.name
        claims["preferred_username"] = user.username
    if EMAIL in scope and profile.email is not None:
        claims["email"] = profile.email
        claims["email_verified"] = profile.email_verified
    return claims
