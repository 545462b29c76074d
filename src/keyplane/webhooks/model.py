"""A webhook as keyplane keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyplane.clock import rfc3339


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    events: tuple[str, ...]
    description: str | None
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SealedSecrets:
    """A webhook's secrets as stored (sealed); the previous one signs until it expires."""

    url: str
    secret: bytes
    previous: bytes | None
    previous_expires_at: datetime | None

    def __repr__(self) -> str:
        return f"SealedSecrets(url={self.url!r})"


@dataclass(frozen=True, slots=True)
class Attempt:
    """A claimed delivery: what to send, and the claim that makes it this worker's."""

    id: str
    webhook_id: str
    event_id: str
    event_type: str
    body: str
    attempts: int
    created_at: datetime
    claimed_until: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None


def webhook_to_wire(webhook: Webhook) -> dict[str, Any]:
    return {"id": webhook.id, "url": webhook.url, "events": list(webhook.events),
            "description": webhook.description, "created_at": rfc3339(webhook.created_at),
            "updated_at": rfc3339(webhook.updated_at),
            "previous_secret_expires_at": rfc3339(webhook.previous_secret_expires_at)}
