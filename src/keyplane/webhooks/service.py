"""Webhook management: create (the secret shown once), read, change, delete, roll the
secret (the old one keeps signing beside the new one for a day), send a test event, and
read a webhook's deliveries."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from keyplane.audit import events as actions
from keyplane.audit.events import Actor, AuditEvent
from keyplane.clock import Clock
from keyplane.errors import FieldError, Invalid, NotFound
from keyplane.ids import is_id, new_id
from keyplane.pagination import Page, page_of
from keyplane.webhooks.events import MAX_PATTERNS, OutboundEvent, pattern_error, webhook_test_event
from keyplane.webhooks.model import Delivery, Webhook
from keyplane.webhooks.repository import DeliveryQueue, WebhookRepository
from keyplane.webhooks.secrets import SecretBox, generate_secret
from keyplane.webhooks.targets import TargetRefused, resolve

ROLL_OVERLAP = timedelta(hours=24)
MAX_DESCRIPTION_LENGTH = 500


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedWebhook:
    webhook: Webhook
    secret: str  # shown once

    def __repr__(self) -> str:
        return f"IssuedWebhook(webhook={self.webhook!r})"


class WebhookService:
    def __init__(self, webhooks: WebhookRepository, deliveries: DeliveryQueue, box: SecretBox,
                 clock: Clock, *, allow_private: bool) -> None:
        self._webhooks = webhooks
        self._deliveries = deliveries
        self._box = box
        self._clock = clock
        self._allow_private = allow_private

    async def _check(self, url: str | None, patterns: Sequence[str] | None,
                     description: str | None) -> None:
        errors: list[FieldError] = []
        if patterns is not None:
            if not 1 <= len(patterns) <= MAX_PATTERNS:
                errors.append(FieldError("events", f"between 1 and {MAX_PATTERNS} event types"))
            errors.extend(FieldError(f"events[{i}]", problem) for i, p in enumerate(patterns)
                          if (problem := pattern_error(p)) is not None)
        if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
            errors.append(FieldError("description", f"at most {MAX_DESCRIPTION_LENGTH} characters"))
        if errors:
            raise Invalid(errors)
        if url is not None:
            try:
                await resolve(url, allow_private=self._allow_private)
            except TargetRefused as exc:
                # a refused target is a 400 (docs/webhooks.md, docs/http-api.md)
                raise Invalid.field("url", str(exc), status=400) from None

    async def create(self, actor: Actor, *, url: str, events: Sequence[str],
                     description: str | None) -> IssuedWebhook:
        await self._check(url, events, description)
        now = self._clock.now()
        webhook = Webhook(id=new_id("whk", now), url=url, events=tuple(dict.fromkeys(events)),
                          description=description, created_at=now, updated_at=now)
        secret = generate_secret()
        event = AuditEvent.of(actor, actions.WEBHOOK_CREATE, webhook.id, now, url=url,
                              events=list(webhook.events))
        await self._webhooks.insert(webhook, self._box.seal(webhook.id, secret), event)
        return IssuedWebhook(webhook=webhook, secret=secret)

    async def get(self, webhook_id: str) -> Webhook:
        webhook = await self._webhooks.get(webhook_id) if is_id(webhook_id, "whk") else None
        if webhook is None:
            raise NotFound(f"no webhook {webhook_id}")
        return webhook

    async def list_webhooks(self, *, after: str | None, limit: int) -> Page[Webhook]:
        return page_of(await self._webhooks.page(after=after, limit=limit + 1), limit, lambda w: w.id)

    async def update(self, actor: Actor, webhook_id: str, changes: Mapping[str, Any]) -> Webhook:
        webhook = await self.get(webhook_id)
        await self._check(changes.get("url"), changes.get("events"), changes.get("description"))
        now = self._clock.now()
        if "events" in changes:
            changes = {**changes, "events": tuple(dict.fromkeys(changes["events"]))}
        updated = dataclasses.replace(webhook, **changes, updated_at=now)
        event = AuditEvent.of(actor, actions.WEBHOOK_UPDATE, webhook.id, now, fields=sorted(changes))
        return await self._webhooks.update(updated, event)

    async def delete(self, actor: Actor, webhook_id: str) -> None:
        webhook = await self.get(webhook_id)
        now = self._clock.now()
        await self._webhooks.delete(webhook.id, AuditEvent.of(actor, actions.WEBHOOK_DELETE,
                                                              webhook.id, now, url=webhook.url))

    async def roll_secret(self, actor: Actor, webhook_id: str) -> IssuedWebhook:
        webhook = await self.get(webhook_id)
        now = self._clock.now()
        secret = generate_secret()
        event = AuditEvent.of(actor, actions.WEBHOOK_SECRET_ROLL, webhook.id, now,
                              overlap_seconds=int(ROLL_OVERLAP.total_seconds()))
        rolled = await self._webhooks.roll_secret(webhook.id, self._box.seal(webhook.id, secret),
                                                  previous_expires_at=now + ROLL_OVERLAP,
                                                  event=event, at=now)
        return IssuedWebhook(webhook=rolled, secret=secret)

    async def send_test(self, webhook_id: str) -> OutboundEvent:
        webhook = await self.get(webhook_id)
        event = webhook_test_event(webhook.id, self._clock.now())
        await self._deliveries.enqueue_to(webhook.id, event)
        return event

    async def deliveries(self, webhook_id: str, *, before: str | None, limit: int) -> Page[Delivery]:
        webhook = await self.get(webhook_id)
        rows = await self._deliveries.page(webhook.id, before=before, limit=limit + 1)
        return page_of(rows, limit, lambda d: d.id)
