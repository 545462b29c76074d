"""The consent page: which application asks, for what, in plain words."""

from __future__ import annotations

# Verbs a scope's last dotted part often is, as a person would say them.
_VERBS = {
    "read": "see", "list": "list", "view": "see", "write": "change", "edit": "change",
    "update": "change", "create": "create", "delete": "delete", "admin": "administer",
    "manage": "manage", "all": "fully use",
}


# OpenID Connect's scope values (Core 1.0 §5.4), in the words of what they release.
_OIDC = {"openid": "know who you are on this server (your user id)",
         "profile": "see your name and username",
         "email": "see your email address"}


def describe_scope(scope: str) -> str:
    """`documents.read` → "see your documents"; a scope of another shape is named as is."""
    if scope in _OIDC:
        return _OIDC[scope]
    parts = [p for p in scope.replace(":", ".").replace("/", ".").split(".") if p]
    if len(parts) >= 2 and parts[-1].lower() in _VERBS:
        thing = " ".join(p.replace("_", " ").replace("-", " ") for p in parts[:-1])
        return f"{_VERBS[parts[-1].lower()]} your {thing}"
    return f"use “{scope}”"


def scope_items(scope: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    """The scopes asked for as (plain words, scope name) pairs, for templates/scopes.html."""
    return [(describe_scope(s).capitalize(), s) for s in scope]
