"""What the audit log records: who did what to which object, when and from where."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keyplane.ids import new_id


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a root key (by id, never its secret) and the client address it came from."""

    id: str
    ip: str | None = None


SYSTEM = Actor(id="system")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: str
    time: datetime
    actor: str
    action: str
    target: str
    ip: str | None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, actor: Actor, action: str, target: str, at: datetime, **details: Any) -> AuditEvent:
        """An event for `actor`; `details` is a secret-free summary (never a key or secret)."""
        return cls(id=new_id("evt", at), time=at, actor=actor.id, action=action, target=target,
                   ip=actor.ip, details=details)


# Action names, `<object>.<verb>`; the audit filter `?action=` matches them exactly.
API_CREATE = "api.create"
API_DELETE = "api.delete"
API_UPDATE = "api.update"
ROLE_PUT = "role.put"
ROLE_DELETE = "role.delete"
KEY_CREATE = "key.create"
KEY_UPDATE = "key.update"
KEY_REVOKE = "key.revoke"
KEY_EXPOSE = "key.expose"
KEY_ROLL = "key.roll"
KEY_DELETE = "key.delete"
ROOT_KEY_CREATE = "root_key.create"
ROOT_KEY_DELETE = "root_key.delete"
SIGNING_KEY_ROTATE = "signing_key.rotate"
TOKEN_ISSUE = "token.issue"
TOKEN_REVOKE = "token.revoke"
TOKEN_EXCHANGE = "token.exchange"
CLIENT_AUTH_FAILURE = "client.auth_failure"
CLIENT_CREATE = "client.create"
CLIENT_UPDATE = "client.update"
CLIENT_DELETE = "client.delete"
CLIENT_SECRET_ROLL = "client.secret_roll"
RESOURCE_SERVER_CREATE = "resource_server.create"
RESOURCE_SERVER_UPDATE = "resource_server.update"
RESOURCE_SERVER_DELETE = "resource_server.delete"
REFRESH_TOKEN_REUSE = "refresh_token.reuse"
REFRESH_FAMILY_REVOKE = "refresh_family.revoke"
DEVICE_AUTHORIZE = "device.authorize"
DEVICE_APPROVE = "device.approve"
DEVICE_DENY = "device.deny"
DEVICE_USER_CODE_FAILURE = "device.user_code_failure"
USER_CREATE = "user.create"
USER_UPDATE = "user.update"
USER_DELETE = "user.delete"
USER_LOGIN = "user.login"
USER_LOGIN_FAILURE = "user.login_failure"
USER_LOGIN_THROTTLED = "user.login_throttled"
USER_LOGOUT = "user.logout"
USER_ROLE_PUT = "user_role.put"
USER_ROLE_DELETE = "user_role.delete"
CONSENT_GRANT = "consent.grant"
CONSENT_WITHDRAW = "consent.withdraw"
AUTHORIZATION_CODE_ISSUE = "authorization_code.issue"
AUTHORIZATION_CODE_REUSE = "authorization_code.reuse"
ALERT_UPDATE = "alert.update"
WEBHOOK_CREATE = "webhook.create"
WEBHOOK_UPDATE = "webhook.update"
WEBHOOK_DELETE = "webhook.delete"
WEBHOOK_SECRET_ROLL = "webhook.secret_roll"
LEAK_REPORT = "leak.report"
