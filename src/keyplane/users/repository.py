"""What the users domain needs from storage. Every write takes the audit event that
records it and writes both in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from keyplane.audit.events import AuditEvent
from keyplane.users.model import Consent, LoginRecord, Profile, ScopeRole, User


class UserRepository(Protocol):
    async def insert(self, user: User, *, username_key: str, password_hash: str,
                     event: AuditEvent) -> None:
        """Raises Conflict for a username taken, Invalid for a role that does not exist."""
        ...

    async def get(self, user_id: str) -> User:
        """Raises NotFound."""
        ...

    async def login_record(self, username_key: str) -> LoginRecord | None: ...

    async def page(self, *, after: str | None, limit: int) -> list[User]: ...

    async def update(self, user_id: str, *, at: datetime, event: AuditEvent,
                     username: tuple[str, str] | None = None, password_hash: str | None = None,
                     roles: tuple[str, ...] | None = None, disabled: bool | None = None,
                     profile: Profile | None = None) -> User:
        """Changes what is given (`username` as (username, username_key); `profile` whole,
        every field of it written); a user disabled
        or given a new password loses their browser sessions. Raises NotFound, Conflict,
        Invalid (an unknown role)."""
        ...

    async def delete(self, user_id: str, event: AuditEvent) -> None:
        """Deletes the user with their roles, consents and sessions; raises NotFound."""
        ...

    async def record_login(self, user_id: str, at: datetime, event: AuditEvent,
                           rehashed: str | None) -> None:
        """Sets `last_login_at` (and a password hash remade with current parameters)."""
        ...

    async def put_role(self, role: ScopeRole, event: AuditEvent) -> ScopeRole: ...

    async def roles(self, names: Sequence[str] | None = None) -> list[ScopeRole]: ...

    async def delete_role(self, name: str, event: AuditEvent) -> None:
        """Raises NotFound, or Conflict while users hold it."""
        ...

    async def consents(self, user_id: str) -> list[Consent]: ...

    async def consent(self, user_id: str, client_id: str) -> Consent | None: ...

    async def grant_consent(self, user_id: str, consent: Consent, event: AuditEvent) -> None:
        """Remembers `consent` (replacing an earlier one of the user for that client)."""
        ...

    async def withdraw_consent(self, user_id: str, client_id: str, event: AuditEvent) -> None:
        """Raises NotFound when there is no such consent."""
        ...
