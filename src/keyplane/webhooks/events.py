"""The events webhooks receive: `alert.<alert type>` when an alert opens, every audit action
under its own name, and `webhook.test`; and how a subscription's patterns match them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyplane.alerts.model import Alert, alert_to_wire
from keyplane.audit.events import AuditEvent
from keyplane.clock import rfc3339
from keyplane.ids import new_id
from keyplane.store.codec import dumps

WEBHOOK_TEST = "webhook.test"
MAX_PATTERNS = 50
# An exact dotted name (`key.revoke`, `alert.key.leaked`) or a prefix ending in `*`
# (`alert.*`, `*`).
_PATTERN_RE = re.compile(r"\*|[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*(?:\.\*)?")


@dataclass(frozen=True, slots=True)
class OutboundEvent:
    """One event; `body` is the exact payload every attempt of every delivery sends."""

    id: str  # the `webhook-id` header
    type: str
    at: datetime
    body: str

    @classmethod
    def of(cls, event_id: str, event_type: str, at: datetime, data: dict[str, Any]) -> OutboundEvent:
        return cls(id=event_id, type=event_type, at=at,
                   body=dumps({"type": event_type, "timestamp": rfc3339(at), "data": data}))


def pattern_error(pattern: str) -> str | None:
    if len(pattern) > 80 or _PATTERN_RE.fullmatch(pattern) is None:
        return "an event type such as key.revoke or alert.key.leaked, or a prefix ending in * (alert.*, *)"
    return None


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether a subscription to `patterns` receives `event_type`: an exact name, or a
    trailing `*` matching any rest."""
    for pattern in patterns:
        if pattern == event_type or (pattern.endswith("*") and event_type.startswith(pattern[:-1])):
            return True
    return False


def audit_event(entry: AuditEvent) -> OutboundEvent:
    """An audit entry as the event named by its action; its id is the entry's."""
    return OutboundEvent.of(entry.id, entry.action, entry.time, {
        "id": entry.id, "time": rfc3339(entry.time), "actor": entry.actor,
        "action": entry.action, "target": entry.target, "ip": entry.ip,
        "details": entry.details})


def alert_opened(alert: Alert, at: datetime) -> OutboundEvent:
    return OutboundEvent.of(new_id("evt", at), f"alert.{alert.type}", at, alert_to_wire(alert))


def webhook_test_event(webhook_id: str, at: datetime) -> OutboundEvent:
    return OutboundEvent.of(new_id("evt", at), WEBHOOK_TEST, at,
                            {"webhook_id": webhook_id, "message": "a test event from keyplane"})
