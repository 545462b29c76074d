"""An API's keys: search by id, name or owner, filter by state, page through; a new key."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keyplane.http.v1.keys import KeyCreate, config_values
from keyplane.keys.model import KEY_STATES, KeyConfig
from keyplane.pagination import decode_cursor
from keyplane.web.dashboard.access import PAGE_SIZE, Admin, action, view
from keyplane.web.dashboard.apis import APIS_PATH
from keyplane.web.dashboard.key_form import FIELD_NAMES, key_data
from keyplane.web.dashboard.navigation import DASHBOARD_PATH
from keyplane.web.dashboard.reveal import redirect_revealing
from keyplane.web.dashboard.validation import submit

KEYS_PATH = f"{DASHBOARD_PATH}/keys"
_NOTICES = {"api_created": "API created. Create its first key below."}


def key_path(key_id: str) -> str:
    return f"{KEYS_PATH}/{key_id}"


async def list_keys(admin: Admin) -> Response:
    api = await admin.services.apis.get_api(admin.request.path_params["api_id"])
    text = admin.query("q")
    state = admin.query("state")
    cursor = admin.query("cursor")
    found = await admin.services.keys.search_keys(
        api.id, text=text or None, state=state if state in KEY_STATES else None,
        after=decode_cursor(cursor or None), limit=PAGE_SIZE)
    now = admin.services.clock.now()
    return admin.show("keys.html", "apis", title=f"{api.name} · keys", api=api,
                      keys=[(k, k.state(now)) for k in found.items], q=text, state=state,
                      states=KEY_STATES, next_cursor=found.next_cursor,
                      notice=_NOTICES.get(admin.query("done"), ""))


async def _new_key_page(admin: Admin, form: dict[str, str], errors: dict[str, str],
                        status: int = 200) -> Response:
    api = await admin.services.apis.get_api(admin.request.path_params["api_id"])
    roles = await admin.services.apis.list_roles(api.id)
    return admin.show("key_new.html", "apis", status=status, title=f"New key · {api.name}",
                      api=api, roles=roles, form=form, errors=errors)


async def new_key(admin: Admin) -> Response:
    return await _new_key_page(admin, {"enabled": "on"}, {})


async def create_key(admin: Admin, form: dict[str, str]) -> Response:
    api_id = admin.request.path_params["api_id"]
    data, problems = key_data(form, key=None)
    services = admin.services

    async def issue(body: KeyCreate) -> Response:
        values: dict[str, Any] = config_values(body, body.model_fields_set - {"api_id"},
                                               services.clock)
        issued = await services.keys.issue_key(admin.actor, api_id, KeyConfig(**values))
        return redirect_revealing(admin, key_path(issued.stored.id), issued.stored.id, issued.key)

    async def again(errors: dict[str, str]) -> Response:
        return await _new_key_page(admin, form, errors, status=422)

    return await submit(KeyCreate, {**data, "api_id": api_id}, issue, again, names=FIELD_NAMES,
                        problems=problems)


def routes() -> list[BaseRoute]:
    return [
        Route(APIS_PATH + "/{api_id}", view(list_keys), methods=["GET"]),
        Route(APIS_PATH + "/{api_id}/keys/new", view(new_key), methods=["GET"]),
        Route(APIS_PATH + "/{api_id}/keys", action(create_key), methods=["POST"]),
    ]
