"""OAuth clients: the list, a new one (its secret shown once), edit, roll the secret, delete."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keyplane.http.v1.clients import ClientCreate, ClientPatch, RollIn, client_changes
from keyplane.oauth.clients import ClientFields
from keyplane.oauth.model import Client
from keyplane.web.dashboard import reveal
from keyplane.web.dashboard.access import PAGE_SIZE, Admin, action, redirect, view
from keyplane.web.dashboard.navigation import DASHBOARD_PATH
from keyplane.web.dashboard.validation import checked, grace_data, submit, words

CLIENTS_PATH = f"{DASHBOARD_PATH}/clients"
_LISTS = ("grant_types", "redirect_uris", "scopes", "audiences")
_NOTICES = {"updated": "Client saved.", "deleted": "Client deleted: every token it held ends now."}


def client_path(client_id: str) -> str:
    return f"{CLIENTS_PATH}/{client_id}"


def _data(form: dict[str, str], *, creating: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"name": form.get("name", "").strip()}
    for name in _LISTS:
        data[name] = words(form.get(name, ""))
    if creating:
        data["type"] = form.get("type") or None
        if not data["grant_types"]:
            data["grant_types"] = None  # the type's default
    return data


async def _list(admin: Admin, *, form: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> Response:
    found = await admin.services.clients.list_clients(after=admin.cursor(), limit=PAGE_SIZE)
    return admin.show("clients.html", "clients", status=status, title="OAuth clients",
                      clients=found.items, next_cursor=found.next_cursor,
                      form=form or {"type": "confidential"}, errors=errors or {},
                      notice=_NOTICES.get(admin.query("done"), ""))


async def list_clients(admin: Admin) -> Response:
    return await _list(admin)


async def create_client(admin: Admin, form: dict[str, str]) -> Response:
    async def create(body: ClientCreate) -> Response:
        issued = await admin.services.clients.create_client(admin.actor,
                                                            ClientFields(**client_changes(body)))
        if issued.secret is None:
            return redirect(client_path(issued.client.id))
        return reveal.redirect_revealing(admin, client_path(issued.client.id), issued.client.id,
                                         issued.secret)

    async def again(errors: dict[str, str]) -> Response:
        return await _list(admin, form=form, errors=errors, status=422)

    return await submit(ClientCreate, _data(form, creating=True), create, again)


def _form_of(client: Client) -> dict[str, str]:
    return {"name": client.name, **{n: " ".join(getattr(client, n)) for n in _LISTS}}


async def _page(admin: Admin, client: Client, *, form: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> Response:
    response = admin.show("client.html", "clients", status=status, title=client.name,
                          client=client, secret=reveal.take(admin, client.id),
                          form=form or _form_of(client), errors=errors or {},
                          notice=_NOTICES.get(admin.query("done"), ""))
    return reveal.forget(admin, response)


async def show_client(admin: Admin) -> Response:
    return await _page(admin, await admin.services.clients.get_client(
        admin.request.path_params["client_id"]))


async def edit_client(admin: Admin, form: dict[str, str]) -> Response:
    client = await admin.services.clients.get_client(admin.request.path_params["client_id"])

    async def update(body: ClientPatch) -> Response:
        await admin.services.clients.update_client(admin.actor, client.id, client_changes(body))
        return redirect(f"{client_path(client.id)}?done=updated")

    async def again(errors: dict[str, str]) -> Response:
        return await _page(admin, client, form=form, errors=errors, status=422)

    return await submit(ClientPatch, _data(form, creating=False), update, again)


async def roll_secret(admin: Admin, form: dict[str, str]) -> Response:
    client_id = admin.request.path_params["client_id"]
    body, errors = checked(RollIn, grace_data(form))
    if body is None:
        client = await admin.services.clients.get_client(client_id)
        return await _page(admin, client, errors=errors, status=422)
    issued = await admin.services.clients.roll_secret(admin.actor, client_id,
                                                      grace_seconds=body.grace_seconds)
    assert issued.secret is not None  # roll_secret makes one or raises Conflict
    return reveal.redirect_revealing(admin, client_path(client_id), client_id, issued.secret)


async def delete_client(admin: Admin, form: dict[str, str]) -> Response:
    await admin.services.clients.delete_client(admin.actor, admin.request.path_params["client_id"])
    return redirect(f"{CLIENTS_PATH}?done=deleted")


def routes() -> list[BaseRoute]:
    return [
        Route(CLIENTS_PATH, view(list_clients), methods=["GET"]),
        Route(CLIENTS_PATH, action(create_client), methods=["POST"]),
        Route(CLIENTS_PATH + "/{client_id}", view(show_client), methods=["GET"]),
        Route(CLIENTS_PATH + "/{client_id}", action(edit_client), methods=["POST"]),
        Route(CLIENTS_PATH + "/{client_id}/secret/roll", action(roll_secret), methods=["POST"]),
        Route(CLIENTS_PATH + "/{client_id}/delete", action(delete_client), methods=["POST"]),
    ]
