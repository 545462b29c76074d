"""Root keys: keyplane's own API keys, which guard the management API.

A root key is a key of the built-in admin API, stored and verified exactly like any other
key; its permissions (`keys.write`, `audit.read`, `*`...) gate the `/v1/` endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from keyplane.audit import events
from keyplane.audit.events import SYSTEM, Actor, AuditEvent
from keyplane.clock import Clock
from keyplane.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from keyplane.ids import is_id, new_id
from keyplane.keys.decide import decide
from keyplane.keys.hashing import KeyHasher
from keyplane.keys.model import (
    ADMIN_API_ID,
    ADMIN_KEY_PREFIX,
    Code,
    IssuedKey,
    KeyConfig,
    StoredKey,
)
from keyplane.keys.permissions import Grants
from keyplane.keys.repository import KeyRepository
from keyplane.keys.service import mint_key
from keyplane.pagination import Page, page_of

ROOT_PERMISSIONS = (
    "apis.read", "apis.write",
    "keys.read", "keys.write", "keys.verify",
    "root_keys.read", "root_keys.write",
    "audit.read",
    "clients.read", "clients.write",
    "signing_keys.read", "signing_keys.write",
    "tokens.introspect", "tokens.read",
    "users.read", "users.write",
    "resource_servers.read", "resource_servers.write",
)
"""Every permission a root key can hold; `*` and `<group>.*` cover several."""

MIN_ROOT_KEY_LENGTH = 32
MAX_ROOT_KEY_LENGTH = 256


def root_permission_error(name: str) -> str | None:
    if name == "*" or name in ROOT_PERMISSIONS:
        return None
    if name.endswith(".*") and any(p.startswith(name[:-1]) for p in ROOT_PERMISSIONS):
        return None
    return f"unknown permission; one of *, {', '.join(ROOT_PERMISSIONS)} or a group such as keys.*"


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated root key: who acts (for the audit log) and what it may do."""

    actor: Actor
    grants: Grants

    def require(self, permission: str) -> None:
        """Raises Forbidden unless this root key holds `permission`."""
        if not self.grants.covers(permission):
            raise Forbidden(f"this root key lacks the permission {permission}")


class RootKeyService:
    def __init__(self, keys: KeyRepository, hasher: KeyHasher, clock: Clock) -> None:
        self._keys = keys
        self._hasher = hasher
        self._clock = clock

    async def authenticate(self, token: str, *, ip: str | None) -> Caller:
        """The root key presented as `token`; raises Unauthenticated for anything else."""
        if not MIN_ROOT_KEY_LENGTH <= len(token) <= MAX_ROOT_KEY_LENGTH:
            raise Unauthenticated("invalid root key")
        stored = await self._keys.by_hash(self._hasher.hash(token))
        if stored is None or stored.api_id != ADMIN_API_ID:
            raise Unauthenticated("invalid root key")
        if decide(stored, now=self._clock.now(), ip=None, need=None) is not Code.VALID:
            raise Unauthenticated("invalid root key")
        return Caller(actor=Actor(id=stored.id, ip=ip), grants=stored.grants)

    async def create(self, caller: Caller, name: str, permissions: tuple[str, ...]) -> IssuedKey:
        """A new root key; it can hold no permission its creator lacks."""
        for permission in permissions:
            problem = root_permission_error(permission)
            if problem:
                raise Invalid.field("permissions", f"{permission!r}: {problem}")
            if not caller.grants.covers(permission):
                raise Forbidden(f"a root key cannot grant {permission}, which it lacks itself")
        return await self._issue(caller.actor, name, permissions)

    async def _issue(self, actor: Actor, name: str, permissions: tuple[str, ...]) -> IssuedKey:
        now = self._clock.now()
        issued = mint_key(ADMIN_API_ID, ADMIN_KEY_PREFIX,
                          KeyConfig(name=name, permissions=permissions), now)
        await self._keys.insert(issued.stored, self._hasher.hash(issued.key),
                                _event(actor, events.ROOT_KEY_CREATE, issued.stored, now))
        return issued

    async def bootstrap(self) -> IssuedKey:
        """A root key with every permission, for `keyplane bootstrap`."""
        return await self._issue(SYSTEM, "bootstrap", ("*",))

    async def ensure(self, token: str) -> bool:
        """Make `token` (KEYPLANE_ROOT_KEY) a root key with `*` unless it is one already;
        returns whether it was created."""
        if await self._keys.by_hash(self._hasher.hash(token)) is not None:
            return False
        now = self._clock.now()
        stored = StoredKey(id=new_id("key", now), api_id=ADMIN_API_ID, start="KEYPLANE_ROOT_KEY",
                           config=KeyConfig(name="KEYPLANE_ROOT_KEY", permissions=("*",)),
                           created_at=now, updated_at=now, grants=Grants.of(("*",)))
        try:
            await self._keys.insert(stored, self._hasher.hash(token),
                                    _event(SYSTEM, events.ROOT_KEY_CREATE, stored, now))
        except Conflict:
            return False  # another replica starting at the same moment made it first
        return True

    async def get(self, key_id: str) -> StoredKey:
        key = await self._keys.get(key_id) if is_id(key_id, "key") else None
        if key is None or key.api_id != ADMIN_API_ID:
            raise NotFound(f"no root key {key_id}")
        return key

    async def list(self, *, after: str | None, limit: int) -> Page[StoredKey]:
        rows = await self._keys.page(api_id=ADMIN_API_ID, owner_id=None, after=after, limit=limit + 1)
        return page_of(rows, limit, lambda k: k.id)

    async def delete(self, caller: Caller, key_id: str) -> None:
        key = await self.get(key_id)
        now = self._clock.now()
        await self._keys.delete(key.id, _event(caller.actor, events.ROOT_KEY_DELETE, key, now))

    async def any_exist(self) -> bool:
        return bool(await self._keys.page(api_id=ADMIN_API_ID, owner_id=None, after=None, limit=1))


def _event(actor: Actor, action: str, key: StoredKey, at: datetime) -> AuditEvent:
    return AuditEvent.of(actor, action, key.id, at, name=key.config.name,
                         permissions=list(key.config.permissions))
