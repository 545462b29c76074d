"""`/v1/webhooks`: signed notifications of alerts and audit events (Standard Webhooks)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from keyplane.clock import rfc3339
from keyplane.http.auth import require
from keyplane.http.context import services_of
from keyplane.http.errors import ERRORS
from keyplane.http.fields import Strict, Time
from keyplane.http.v1.paging import ListOf, PageParams, render_page
from keyplane.keys.root_keys import Caller
from keyplane.webhooks.model import Delivery, webhook_to_wire

router = APIRouter(prefix="/v1/webhooks", tags=["Webhooks"], responses=ERRORS)

Url = Annotated[str, Field(min_length=1, max_length=2000)]
Events = Annotated[list[Annotated[str, Field(max_length=80)]], Field(min_length=1, max_length=50)]
Description = Annotated[str, Field(max_length=500)]


class WebhookCreate(Strict):
    url: Url
    events: Events
    description: Description | None = None


class WebhookPatch(Strict):
    url: Url | None = None
    events: Events | None = None
    description: Description | None = None


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    created_at: Time
    updated_at: Time
    previous_secret_expires_at: Time | None


class IssuedWebhookOut(WebhookOut):
    secret: str = Field(description="`whsec_` + base64: shown only in this response")


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event_type: str
    attempts: int
    state: Literal["pending", "delivered", "failed"]
    last_status: int | None
    last_error: str | None
    next_attempt_at: Time | None
    delivered_at: Time | None


class TestEventOut(BaseModel):
    event_id: str
    type: str


def delivery_to_wire(d: Delivery) -> dict[str, Any]:
    return {"id": d.id, "event_id": d.event_id, "event_type": d.event_type, "attempts": d.attempts,
            "state": d.state, "last_status": d.last_status, "last_error": d.last_error,
            "next_attempt_at": rfc3339(d.next_attempt_at), "delivered_at": rfc3339(d.delivered_at)}


@router.post("", status_code=201, response_model=IssuedWebhookOut, summary="Create a webhook",
             description="400 when the URL's host resolves to a private, loopback or link-local "
                         "address (unless KEYPLANE_WEBHOOKS_ALLOW_PRIVATE=true).")
async def create_webhook(body: WebhookCreate, request: Request,
                         caller: Caller = Depends(require("webhooks.write"))) -> dict[str, Any]:
    issued = await services_of(request).webhooks.create(
        caller.actor, url=body.url, events=body.events, description=body.description)
    return {**webhook_to_wire(issued.webhook), "secret": issued.secret}


@router.get("", response_model=ListOf[WebhookOut], summary="List webhooks")
async def list_webhooks(request: Request, _: Caller = Depends(require("webhooks.read")),
                        page: PageParams = Depends()) -> dict[str, Any]:
    found = await services_of(request).webhooks.list_webhooks(after=page.after, limit=page.limit)
    return render_page(found, webhook_to_wire)


@router.get("/{webhook_id}", response_model=WebhookOut, summary="Get a webhook")
async def get_webhook(webhook_id: str, request: Request,
                      _: Caller = Depends(require("webhooks.read"))) -> dict[str, Any]:
    return webhook_to_wire(await services_of(request).webhooks.get(webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut, summary="Change a webhook")
async def update_webhook(webhook_id: str, body: WebhookPatch, request: Request,
                         caller: Caller = Depends(require("webhooks.write"))) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    for required in ("url", "events"):
        if required in changes and changes[required] is None:
            changes.pop(required)
    webhook = await services_of(request).webhooks.update(caller.actor, webhook_id, changes)
    return webhook_to_wire(webhook)


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook")
async def delete_webhook(webhook_id: str, request: Request,
                         caller: Caller = Depends(require("webhooks.write"))) -> Response:
    await services_of(request).webhooks.delete(caller.actor, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/secret/roll", response_model=IssuedWebhookOut,
             summary="Roll a webhook's secret",
             description="The old secret keeps signing beside the new one for 24 hours.")
async def roll_webhook_secret(webhook_id: str, request: Request,
                              caller: Caller = Depends(require("webhooks.write"))) -> dict[str, Any]:
    issued = await services_of(request).webhooks.roll_secret(caller.actor, webhook_id)
    return {**webhook_to_wire(issued.webhook), "secret": issued.secret}


@router.get("/{webhook_id}/deliveries", response_model=ListOf[DeliveryOut],
            summary="A webhook's deliveries, newest first")
async def list_deliveries(webhook_id: str, request: Request,
                          _: Caller = Depends(require("webhooks.read")),
                          page: PageParams = Depends()) -> dict[str, Any]:
    found = await services_of(request).webhooks.deliveries(webhook_id, before=page.after,
                                                           limit=page.limit)
    return render_page(found, delivery_to_wire)


@router.post("/{webhook_id}/test", status_code=202, response_model=TestEventOut,
             summary="Send a webhook.test event")
async def send_test_event(webhook_id: str, request: Request,
                          _: Caller = Depends(require("webhooks.write"))) -> dict[str, Any]:
    services = services_of(request)
    event = await services.webhooks.send_test(webhook_id)
    services.deliveries.wake()
    return {"event_id": event.id, "type": event.type}
