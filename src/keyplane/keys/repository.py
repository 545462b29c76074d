"""What the API-key domain needs from storage, and nothing more.

Every write takes the audit event that records it: the store writes both in one
transaction, so an action is never done without its record, nor recorded without being done.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from keyplane.audit.events import AuditEvent
from keyplane.keys.model import Api, KeyState, Role, StoredKey


class KeyRepository(Protocol):
    async def by_hash(self, key_hash: bytes) -> StoredKey | None:
        """The hot path: one indexed lookup, roles resolved in the same query."""
        ...

    async def get(self, key_id: str) -> StoredKey:
        """Raises NotFound."""
        ...

    async def page(
        self, *, api_id: str | None, owner_id: str | None, after: str | None, limit: int
    ) -> list[StoredKey]: ...

    async def search(
        self, *, api_id: str, text: str | None, state: KeyState | None, now: datetime,
        after: str | None, limit: int,
    ) -> list[StoredKey]:
        """An API's keys, oldest first: `text` is a key's id, or part of its name or owner
        (any case); `state` as `key_state` tells it at `now`."""
        ...

    async def insert(self, key: StoredKey, key_hash: bytes, event: AuditEvent) -> None:
        """Raises Conflict when its API or a role it names was deleted meanwhile."""
        ...

    async def update(self, key: StoredKey, event: AuditEvent,
                     fields: Collection[str] | None = None) -> StoredKey:
        """Writes the key's configuration — only `fields` (KeyConfig names) when given, all
        of it otherwise — never its revocation; raises NotFound, or Conflict when a role it
        names was deleted meanwhile."""
        ...

    async def revoke(self, key_id: str, at: datetime, event: AuditEvent, *,
                     record_always: bool = False) -> StoredKey:
        """Sets `revoked_at` unless already set, recording `event` when it does (or always,
        with `record_always`); raises NotFound."""
        ...

    async def roll(
        self, old: StoredKey, old_expires_at: datetime, new: StoredKey, new_hash: bytes,
        event: AuditEvent,
    ) -> None:
        """Inserts `new` and shortens `old` to `old_expires_at`, atomically."""
        ...

    async def delete(self, key_id: str, event: AuditEvent) -> None:
        """Raises NotFound."""
        ...


class ApiRepository(Protocol):
    async def insert(self, api: Api, event: AuditEvent | None) -> None:
        """Raises Conflict when the id exists; `event` None only for keyplane's own API."""
        ...

    async def get(self, api_id: str) -> Api:
        """Raises NotFound."""
        ...

    async def page(self, *, after: str | None, limit: int) -> list[Api]: ...

    async def set_rotation(self, api_id: str, rotation_days: int | None, event: AuditEvent) -> Api:
        """NotFound when there is no such API."""

    async def delete(self, api_id: str, *, force: bool, event: AuditEvent) -> int:
        """Deletes the API (and with `force` its keys; returns how many). Raises NotFound,
        or Conflict while it has keys and `force` is false."""
        ...

    async def put_role(self, role: Role, event: AuditEvent) -> Role:
        """Creates or replaces a role; returns it as stored."""
        ...

    async def roles(self, api_id: str, names: Sequence[str] | None = None) -> list[Role]: ...

    async def delete_role(self, api_id: str, name: str, event: AuditEvent) -> None:
        """Raises NotFound, or Conflict while a key holds the role."""
        ...
