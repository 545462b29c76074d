"""One key: its facts, its usage chart, edit, roll with grace, revoke, expose."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keyplane.http.v1.keys import KeyPatch, RollIn, config_values
from keyplane.keys.model import StoredKey
from keyplane.usage.queries import Granularity
from keyplane.web.dashboard import reveal
from keyplane.web.dashboard.access import Admin, action, redirect, view
from keyplane.web.dashboard.charts import day_label, hour_label, stacked
from keyplane.web.dashboard.key_form import FIELD_NAMES, key_data, key_form
from keyplane.web.dashboard.keys import KEYS_PATH, key_path
from keyplane.web.dashboard.validation import checked, grace_data, submit

_NOTICES = {"updated": "Key saved.", "revoked": "Key revoked: it no longer verifies."}


async def _page(admin: Admin, key: StoredKey, *, form: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> Response:
    services = admin.services
    by: Granularity = "day" if admin.query("by") == "day" else "hour"
    series = await services.usage.series(key_id=key.id, since=None, until=None, granularity=by)
    chart = stacked(f"Verifications of this key per {by}", [(b.start, b.counts) for b in series],
                    label=day_label if by == "day" else hour_label, label_every=5 if by == "day" else 3)
    api = await services.apis.get_api(key.api_id)
    secret = reveal.take(admin, key.id)
    response = admin.show(
        "key.html", "apis", status=status, title=key.config.name or key.id, key=key, api=api,
        state=key.state(services.clock.now()), chart=chart, by=by, secret=secret,
        form=form or key_form(key), errors=errors or {},
        notice=_NOTICES.get(admin.query("done"), ""))
    return reveal.forget(admin, response)


async def show_key(admin: Admin) -> Response:
    key = await admin.services.keys.get_key(admin.request.path_params["key_id"])
    return await _page(admin, key)


async def edit_key(admin: Admin, form: dict[str, str]) -> Response:
    services = admin.services
    key = await services.keys.get_key(admin.request.path_params["key_id"])
    data, problems = key_data(form, key=key)

    async def update(body: KeyPatch) -> Response:
        changes: dict[str, Any] = config_values(body, set(body.model_fields_set), services.clock)
        await services.keys.update_key(admin.actor, key.id, changes)
        return redirect(f"{key_path(key.id)}?done=updated")

    async def again(errors: dict[str, str]) -> Response:
        return await _page(admin, key, form=form, errors=errors, status=422)

    return await submit(KeyPatch, data, update, again, names=FIELD_NAMES, problems=problems)


async def roll_key(admin: Admin, form: dict[str, str]) -> Response:
    key_id = admin.request.path_params["key_id"]
    body, errors = checked(RollIn, grace_data(form))
    if body is None:
        key = await admin.services.keys.get_key(key_id)
        return await _page(admin, key, errors=errors, status=422)
    issued = await admin.services.keys.roll_key(admin.actor, key_id,
                                                grace_seconds=body.grace_seconds)
    return reveal.redirect_revealing(admin, key_path(issued.stored.id), issued.stored.id,
                                     issued.key)


async def revoke_key(admin: Admin, form: dict[str, str]) -> Response:
    key = await admin.services.keys.revoke_key(admin.actor, admin.request.path_params["key_id"])
    return redirect(f"{key_path(key.id)}?done=revoked")


async def expose_key(admin: Admin, form: dict[str, str]) -> Response:
    """Revoke at once and show what the key did lately (ExposureReport)."""
    report = await admin.services.exposure.expose(admin.actor, admin.request.path_params["key_id"],
                                                  since=None)
    return admin.show("exposure.html", "apis", title="Key exposed", key=report.key,
                      activity=report.activity)


def routes() -> list[BaseRoute]:
    return [
        Route(KEYS_PATH + "/{key_id}", view(show_key), methods=["GET"]),
        Route(KEYS_PATH + "/{key_id}", action(edit_key), methods=["POST"]),
        Route(KEYS_PATH + "/{key_id}/roll", action(roll_key), methods=["POST"]),
        Route(KEYS_PATH + "/{key_id}/revoke", action(revoke_key), methods=["POST"]),
        Route(KEYS_PATH + "/{key_id}/expose", action(expose_key), methods=["POST"]),
    ]
