"""APIs: the list, a new one, and an API's settings (key prefix, roles)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keyplane.http.v1.apis import ApiCreate, RolePut
from keyplane.web.dashboard.access import PAGE_SIZE, Admin, action, redirect, view
from keyplane.web.dashboard.navigation import DASHBOARD_PATH
from keyplane.web.dashboard.validation import checked, submit, words

APIS_PATH = f"{DASHBOARD_PATH}/apis"


def api_path(api_id: str) -> str:
    return f"{APIS_PATH}/{api_id}"


async def _list(admin: Admin, *, form: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> Response:
    found = await admin.services.apis.list_apis(after=admin.cursor(), limit=PAGE_SIZE)
    return admin.show("apis.html", "apis", status=status, title="APIs", apis=found.items,
                      next_cursor=found.next_cursor, form=form or {}, errors=errors or {})


async def list_apis(admin: Admin) -> Response:
    return await _list(admin)


async def create_api(admin: Admin, form: dict[str, str]) -> Response:
    body, errors = checked(ApiCreate, {"name": form.get("name", ""),
                                       "key_prefix": form.get("key_prefix") or None})
    if body is None:
        return await _list(admin, form=form, errors=errors, status=422)
    api = await admin.services.apis.create_api(admin.actor, body.name, body.key_prefix)
    return redirect(f"{api_path(api.id)}?done=api_created")


async def _settings(admin: Admin, api_id: str, *, form: dict[str, str] | None = None,
                    errors: dict[str, str] | None = None, status: int = 200) -> Response:
    api = await admin.services.apis.get_api(api_id)
    roles = await admin.services.apis.list_roles(api.id)
    return admin.show("api_settings.html", "apis", status=status, title=f"{api.name} · settings",
                      api=api, roles=roles, form=form or {}, errors=errors or {},
                      notice=_NOTICES.get(admin.query("done"), ""))


async def settings(admin: Admin) -> Response:
    return await _settings(admin, admin.request.path_params["api_id"])


async def put_role(admin: Admin, form: dict[str, str]) -> Response:
    api_id = admin.request.path_params["api_id"]

    async def put(body: RolePut) -> Response:
        await admin.services.apis.put_role(admin.actor, api_id, form.get("name", ""),
                                           tuple(body.permissions))
        return redirect(f"{api_path(api_id)}/settings?done=role_saved")

    async def again(errors: dict[str, str]) -> Response:
        return await _settings(admin, api_id, form=form, errors=errors, status=422)

    return await submit(RolePut, {"permissions": words(form.get("permissions", ""))}, put, again)


async def delete_role(admin: Admin, form: dict[str, str]) -> Response:
    api_id = admin.request.path_params["api_id"]
    await admin.services.apis.delete_role(admin.actor, api_id, form.get("name", ""))
    return redirect(f"{api_path(api_id)}/settings?done=role_deleted")


_NOTICES = {"role_saved": "Role saved.", "role_deleted": "Role deleted."}


def routes() -> list[BaseRoute]:
    return [
        Route(APIS_PATH, view(list_apis), methods=["GET"]),
        Route(APIS_PATH, action(create_api), methods=["POST"]),
        Route(APIS_PATH + "/{api_id}/settings", view(settings), methods=["GET"]),
        Route(APIS_PATH + "/{api_id}/roles", action(put_role), methods=["POST"]),
        Route(APIS_PATH + "/{api_id}/roles/delete", action(delete_role), methods=["POST"]),
    ]
