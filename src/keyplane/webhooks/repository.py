"""What the webhooks service and the delivery worker need from storage (store/webhooks.py
and store/outbox.py implement it)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from keyplane.audit.events import AuditEvent
from keyplane.webhooks.events import OutboundEvent
from keyplane.webhooks.model import Attempt, Delivery, SealedSecrets, Webhook


class WebhookRepository(Protocol):
    async def insert(self, webhook: Webhook, secret: bytes, event: AuditEvent) -> None: ...

    async def get(self, webhook_id: str) -> Webhook | None: ...

    async def page(self, *, after: str | None, limit: int) -> list[Webhook]: ...

    async def update(self, webhook: Webhook, event: AuditEvent) -> Webhook:
        """NotFound when it is gone."""

    async def delete(self, webhook_id: str, event: AuditEvent) -> None:
        """NotFound when there is none."""

    async def roll_secret(self, webhook_id: str, secret: bytes, *, previous_expires_at: datetime,
                          event: AuditEvent, at: datetime) -> Webhook:
        """The current secret becomes the previous one, until `previous_expires_at`."""

    async def sealed_secrets(self, webhook_id: str) -> SealedSecrets | None: ...


class DeliveryQueue(Protocol):
    async def enqueue_to(self, webhook_id: str, event: OutboundEvent) -> int: ...

    async def due_webhooks(self, now: datetime, *, limit: int) -> list[str]: ...

    async def claim(self, webhook_id: str, now: datetime, *, until: datetime, limit: int) -> list[Attempt]: ...

    async def finish(self, attempt: Attempt, *, state: str, status: int | None, error: str | None,
                     next_attempt_at: datetime | None, at: datetime) -> bool: ...

    async def page(self, webhook_id: str, *, before: str | None, limit: int) -> list[Delivery]: ...

    async def prune(self, before: datetime) -> int: ...
