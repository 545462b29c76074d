"""The web dashboard at /dashboard: for users holding the role `admin`, signed in through
keyplane's own login page and session cookie (web/session.py), every form with the
session's CSRF token (web/csrf.py), every action audited with the user as its actor.

A module a group of pages; each calls the same services as the /v1 API and renders a
template of `web/templates/dashboard/`. `access.py` holds the gate (who may see a page, the
form checks), `navigation.py` the sections, `charts.py` the server-side SVG charts,
`reveal.py` how a key or secret just made is shown once.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from keyplane.web.dashboard import (
    alerts,
    apis,
    audit_log,
    clients,
    key_page,
    keys,
    overview,
    people,
    signing,
    webhooks,
)


def routes() -> list[BaseRoute]:
    return [route for module in (overview, apis, keys, key_page, clients, people, signing,
                                 audit_log, alerts, webhooks) for route in module.routes()]
