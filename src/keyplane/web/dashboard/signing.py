"""The token signing keys, and rotating them."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keyplane.web.dashboard.access import Admin, action, redirect, view
from keyplane.web.dashboard.navigation import DASHBOARD_PATH

SIGNING_PATH = f"{DASHBOARD_PATH}/signing-keys"


async def list_signing_keys(admin: Admin) -> Response:
    keys = await admin.services.signing_keys.list_keys()
    return admin.show("signing_keys.html", "signing-keys", title="Signing keys", keys=keys,
                      notice="A new signing key was made." if admin.query("done") == "rotated" else "")


async def rotate(admin: Admin, form: dict[str, str]) -> Response:
    await admin.services.signing_keys.rotate(admin.actor, immediate=form.get("immediate") == "on")
    return redirect(f"{SIGNING_PATH}?done=rotated")


def routes() -> list[BaseRoute]:
    return [
        Route(SIGNING_PATH, view(list_signing_keys), methods=["GET"]),
        Route(SIGNING_PATH + "/rotate", action(rotate), methods=["POST"]),
    ]
