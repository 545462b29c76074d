"""The consent page: which application asks, for what, in plain words."""

from __future__ import annotations

from keyplane.oauth.model import Client
from keyplane.users.model import User
from keyplane.web.render import Html, esc, join

# Verbs a scope's last dotted part often is, as a person would say them.
_VERBS = {
    "read": "see", "list": "list", "view": "see", "write": "change", "edit": "change",
    "update": "change", "create": "create", "delete": "delete", "admin": "administer",
    "manage": "manage", "all": "fully use",
}


def describe_scope(scope: str) -> str:
    """`documents.read` → "see your documents"; a scope of another shape is named as is."""
    parts = [p for p in scope.replace(":", ".").replace("/", ".").split(".") if p]
    if len(parts) >= 2 and parts[-1].lower() in _VERBS:
        thing = " ".join(p.replace("_", " ").replace("-", " ") for p in parts[:-1])
        return f"{_VERBS[parts[-1].lower()]} your {thing}"
    return f"use “{scope}”"


def scope_list(scope: tuple[str, ...] | list[str]) -> Html:
    """The scopes asked for, in plain words with each scope's name beside it (the consent
    page and the device page)."""
    items = join([Html(f"<li>{esc(describe_scope(s).capitalize())} "
                       f'<span class="muted">(<code>{esc(s)}</code>)</span></li>') for s in scope])
    return Html(f'<p>It asks to:</p><ul class="scopes">{items}</ul>')


def consent_body(client: Client, user: User, scope: tuple[str, ...], csrf_field: Html,
                 request_query: str, action: str) -> Html:
    if scope:
        asks = scope_list(scope)
    else:
        asks = Html("<p>It asks to know who you are on this server; no other access.</p>")
    return Html(
        f"<h1>Allow {esc(client.name)}?</h1>"
        f"<p><strong>{esc(client.name)}</strong> wants to act for you, "
        f"<strong>{esc(user.username)}</strong>.</p>{asks}"
        '<p class="muted">You can withdraw this later; it is remembered until then.</p>'
        f'<form method="post" action="{esc(action)}">{csrf_field}'
        f'<input type="hidden" name="request" value="{esc(request_query)}">'
        '<div class="actions">'
        '<button type="submit" name="decision" value="approve">Allow</button>'
        '<button type="submit" name="decision" value="deny" class="secondary">Deny</button>'
        "</div></form>")
