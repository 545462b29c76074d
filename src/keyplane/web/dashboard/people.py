"""Users and their consents (withdraw one)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keyplane.web.dashboard.access import PAGE_SIZE, Admin, action, redirect, view
from keyplane.web.dashboard.navigation import DASHBOARD_PATH

USERS_PATH = f"{DASHBOARD_PATH}/users"


async def list_users(admin: Admin) -> Response:
    found = await admin.services.users.list_users(after=admin.cursor(), limit=PAGE_SIZE)
    return admin.show("users.html", "users", title="Users", users=found.items,
                      next_cursor=found.next_cursor)


async def show_user(admin: Admin) -> Response:
    services = admin.services
    person = await services.users.get_user(admin.request.path_params["user_id"])
    consents = await services.users.list_consents(person.id)
    return admin.show("user.html", "users", title=person.username, person=person,
                      consents=consents,
                      notice="Consent withdrawn." if admin.query("done") == "withdrawn" else "")


async def withdraw_consent(admin: Admin, form: dict[str, str]) -> Response:
    user_id = admin.request.path_params["user_id"]
    await admin.services.users.withdraw_consent(admin.actor, user_id, form.get("client_id", ""))
    return redirect(f"{USERS_PATH}/{user_id}?done=withdrawn")


def routes() -> list[BaseRoute]:
    return [
        Route(USERS_PATH, view(list_users), methods=["GET"]),
        Route(USERS_PATH + "/{user_id}", view(show_user), methods=["GET"]),
        Route(USERS_PATH + "/{user_id}/consents/withdraw", action(withdraw_consent),
              methods=["POST"]),
    ]
