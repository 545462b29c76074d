"""What an alert is: its type, severity, state and subject, and its wire form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keyplane.clock import rfc3339

# Alert types (docs/alerts.md); the webhook event of an alert opening is
# `alert.<type>`.
KEY_REVOKED_USED = "key.revoked_used"
KEY_EXPIRED_USED = "key.expired_used"
KEY_ENUMERATION = "key.enumeration"
KEY_LEAKED = "key.leaked"
REFRESH_TOKEN_REUSE = "refresh_token.reuse"
USAGE_SPIKE = "usage.spike"
KEY_ROTATION_DUE = "key.rotation_due"
KEY_EXPIRING = "key.expiring"

SEVERITY = {
    KEY_REVOKED_USED: "critical",  # someone holds a key its owner gave up: a likely leak
    KEY_EXPIRED_USED: "warning",
    KEY_ENUMERATION: "warning",
    KEY_LEAKED: "critical",
    REFRESH_TOKEN_REUSE: "critical",  # RFC 9700 §4.14.2: a copy of a refresh token exists
    USAGE_SPIKE: "warning",
    KEY_ROTATION_DUE: "info",
    KEY_EXPIRING: "info",
}
TYPES = tuple(SEVERITY)

OPEN = "open"
ACKNOWLEDGED = "acknowledged"
RESOLVED = "resolved"
STATES = (OPEN, ACKNOWLEDGED, RESOLVED)

SUBJECT_KINDS = ("key", "client", "user", "ip", "api")


@dataclass(frozen=True, slots=True)
class Signal:
    """A detector's finding: opens an alert of `type` about the subject, or bumps the one
    open. `count` is added to the open alert's count; `repeats` False (a sweep's finding
    that still holds) refreshes `last_seen` and `details` and leaves the count."""

    type: str
    subject_kind: str
    subject_id: str
    at: datetime
    api_id: str | None = None
    count: int = 1
    details: dict[str, Any] = field(default_factory=dict)
    repeats: bool = True

    @property
    def subject(self) -> tuple[str, str, str]:
        return (self.type, self.subject_kind, self.subject_id)


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    type: str
    severity: str
    state: str
    subject_kind: str
    subject_id: str
    api_id: str | None
    first_seen: datetime
    last_seen: datetime
    count: int
    details: dict[str, Any]


def alert_to_wire(alert: Alert) -> dict[str, Any]:
    """The alert as `/v1/alerts` answers it and as the `alert.<type>` webhook carries it."""
    return {"id": alert.id, "type": alert.type, "severity": alert.severity, "state": alert.state,
            "subject": {"kind": alert.subject_kind, "id": alert.subject_id},
            "api_id": alert.api_id, "first_seen": rfc3339(alert.first_seen),
            "last_seen": rfc3339(alert.last_seen), "count": alert.count, "details": alert.details}
