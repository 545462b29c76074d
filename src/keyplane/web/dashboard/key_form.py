"""The key form: its fields as the /v1 request models take them, and back.

A form has one box a list (permissions, roles: separated by spaces or commas), metadata
as JSON, one rate limit (a key's others, set through the API, are kept as they are), a
credit balance (its refill kept), and an expiry: days from now on creation, a UTC time
on edit (empty: never).
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from keyplane.keys.model import StoredKey
from keyplane.web.dashboard.validation import words

# Model fields whose errors show beside a form field of another name.
FIELD_NAMES = {"ttl_seconds": "ttl_days", "ratelimits": "ratelimit_limit", "credits": "credits"}
DEFAULT_LIMIT_NAME = "requests"
_LOCAL_TIME = "%Y-%m-%dT%H:%M"


def _int(form: dict[str, str], name: str, errors: dict[str, str]) -> int | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        errors[name] = "must be a whole number"
        return None


def key_data(form: dict[str, str], *, key: StoredKey | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The body of `POST /v1/keys` (no `key`) or `PATCH /v1/keys/{id}` (`key`: only the
    fields that change); and the problems found reading the form."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        "name": form.get("name", "").strip() or None,
        "owner_id": form.get("owner_id", "").strip() or None,
        "permissions": words(form.get("permissions", "")),
        "roles": words(form.get("roles", "")),
        "enabled": form.get("enabled") == "on",
    }
    text = form.get("metadata", "").strip()
    try:
        data["metadata"] = json.loads(text) if text else {}
    except ValueError:
        errors["metadata"] = "must be a JSON object, such as {\"plan\": \"pro\"}"
    if key is None:
        days = _int(form, "ttl_days", errors)
        if days is not None:
            data["ttl_seconds"] = days * 86400
    else:
        expires = form.get("expires_at", "").strip()
        current = key.config.expires_at
        # Sent only when changed: an expired key keeps its past expiry while other fields change.
        if expires != (current.astimezone(UTC).strftime(_LOCAL_TIME) if current else ""):
            data["expires_at"] = f"{expires}:00Z" if len(expires) == 16 else expires or None
    remaining = _int(form, "credits", errors)
    limit = _int(form, "ratelimit_limit", errors)
    window = _int(form, "ratelimit_window", errors)
    limits = list(key.config.ratelimits) if key else []
    if key is None or remaining != (key.config.credits.remaining if key.config.credits else None):
        refill = key.config.credits.refill if key and key.config.credits else None
        data["credits"] = None if remaining is None else {"remaining": remaining, **({"refill": {
            k: v for k, v in (("amount", refill.amount), ("interval", refill.interval),
                              ("interval_seconds", refill.interval_seconds)) if v is not None}}
            if refill else {})}
    first = limits[0] if limits else None
    if key is None or (limit, window) != ((first.limit, first.window_seconds) if first else (None, None)):
        rest = [{"name": r.name, "limit": r.limit, "window_seconds": r.window_seconds,
                 "scope": r.scope, "fail_open": r.fail_open} for r in limits[1:]]
        mine = [] if limit is None else [{"name": first.name if first else DEFAULT_LIMIT_NAME,
                                          "limit": limit, "window_seconds": window or 60}]
        data["ratelimits"] = mine + rest
    return data, errors


def key_form(key: StoredKey) -> dict[str, str]:
    """A key's configuration as the edit form shows it."""
    c = key.config
    first = c.ratelimits[0] if c.ratelimits else None
    return {
        "name": c.name or "", "owner_id": c.owner_id or "",
        "permissions": " ".join(c.permissions), "roles": " ".join(c.roles),
        "metadata": json.dumps(c.metadata, ensure_ascii=False) if c.metadata else "",
        "expires_at": c.expires_at.astimezone(UTC).strftime(_LOCAL_TIME) if c.expires_at else "",
        "credits": "" if c.credits is None else str(c.credits.remaining),
        "ratelimit_limit": str(first.limit) if first else "",
        "ratelimit_window": str(first.window_seconds) if first else "",
        "enabled": "on" if c.enabled else "",
    }
