"""Webhooks: the list, a new one (its signing secret shown once), delete, roll the secret
(the new one shown once), send a test event, and a webhook's deliveries."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from keyplane.http.v1.webhooks import WebhookCreate
from keyplane.pagination import decode_cursor
from keyplane.web.dashboard import reveal
from keyplane.web.dashboard.access import PAGE_SIZE, Admin, action, redirect, view
from keyplane.web.dashboard.navigation import DASHBOARD_PATH
from keyplane.web.dashboard.validation import submit, words
from keyplane.webhooks.model import Webhook

WEBHOOKS_PATH = f"{DASHBOARD_PATH}/webhooks"
_NOTICES = {"deleted": "Webhook deleted: nothing more is sent to it.",
            "tested": "Test event queued: its delivery is listed below."}


def webhook_path(webhook_id: str) -> str:
    return f"{WEBHOOKS_PATH}/{webhook_id}"


def _data(form: dict[str, str]) -> dict[str, Any]:
    description = form.get("description", "").strip()
    return {"url": form.get("url", "").strip(), "events": words(form.get("events", "")),
            "description": description or None}


async def _list(admin: Admin, *, form: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> Response:
    found = await admin.services.webhooks.list_webhooks(after=admin.cursor(), limit=PAGE_SIZE)
    return admin.show("webhooks.html", "webhooks", status=status, title="Webhooks",
                      webhooks=found.items, next_cursor=found.next_cursor,
                      form=form or {"events": "*"}, errors=errors or {},
                      notice=_NOTICES.get(admin.query("done"), ""))


async def list_webhooks(admin: Admin) -> Response:
    return await _list(admin)


async def create_webhook(admin: Admin, form: dict[str, str]) -> Response:
    async def create(body: WebhookCreate) -> Response:
        issued = await admin.services.webhooks.create(admin.actor, url=body.url, events=body.events,
                                                      description=body.description)
        webhook_id = issued.webhook.id
        return reveal.redirect_revealing(admin, webhook_path(webhook_id), webhook_id, issued.secret)

    async def again(errors: dict[str, str]) -> Response:
        return await _list(admin, form=form, errors=errors, status=422)

    return await submit(WebhookCreate, _data(form), create, again)


async def _page(admin: Admin, webhook: Webhook) -> Response:
    cursor = admin.query("cursor")
    deliveries = await admin.services.webhooks.deliveries(
        webhook.id, before=decode_cursor(cursor or None), limit=PAGE_SIZE)
    response = admin.show("webhook.html", "webhooks", title=webhook.url, webhook=webhook,
                          secret=reveal.take(admin, webhook.id), deliveries=deliveries.items,
                          next_cursor=deliveries.next_cursor,
                          notice=_NOTICES.get(admin.query("done"), ""))
    return reveal.forget(admin, response)


async def show_webhook(admin: Admin) -> Response:
    return await _page(admin, await admin.services.webhooks.get(
        admin.request.path_params["webhook_id"]))


async def roll_secret(admin: Admin, form: dict[str, str]) -> Response:
    issued = await admin.services.webhooks.roll_secret(admin.actor,
                                                       admin.request.path_params["webhook_id"])
    webhook_id = issued.webhook.id
    return reveal.redirect_revealing(admin, webhook_path(webhook_id), webhook_id, issued.secret)


async def send_test(admin: Admin, form: dict[str, str]) -> Response:
    webhook_id = admin.request.path_params["webhook_id"]
    await admin.services.webhooks.send_test(webhook_id)
    admin.services.deliveries.wake()
    return redirect(f"{webhook_path(webhook_id)}?done=tested")


async def delete_webhook(admin: Admin, form: dict[str, str]) -> Response:
    await admin.services.webhooks.delete(admin.actor, admin.request.path_params["webhook_id"])
    return redirect(f"{WEBHOOKS_PATH}?done=deleted")


def routes() -> list[BaseRoute]:
    return [
        Route(WEBHOOKS_PATH, view(list_webhooks), methods=["GET"]),
        Route(WEBHOOKS_PATH, action(create_webhook), methods=["POST"]),
        Route(WEBHOOKS_PATH + "/{webhook_id}", view(show_webhook), methods=["GET"]),
        Route(WEBHOOKS_PATH + "/{webhook_id}/secret/roll", action(roll_secret), methods=["POST"]),
        Route(WEBHOOKS_PATH + "/{webhook_id}/test", action(send_test), methods=["POST"]),
        Route(WEBHOOKS_PATH + "/{webhook_id}/delete", action(delete_webhook), methods=["POST"]),
    ]
