"""Root keys: keyplane's own API keys, which guard the management API.

A root key is a key of the built-in admin API, stored and verified exactly like any other
key; its permissions (`keys.write`, `audit.read`, `*`...) gate the `/v1/` endpoints.

A root key may be bound to one API (`api_id`, kept in the root key's metadata, which no
caller writes): it then holds only key permissions (and the token ones an SDK needs), and
every key endpoint treats other APIs as out of its reach — 403 for a request naming
another API, 404 for another API's key by id, `NOT_FOUND` from verify. The SDK of one API
needs nothing more, so a leaked SDK key exposes that API alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from keyplane.audit import events
from keyplane.audit.events import SYSTEM, Actor, AuditEvent
from keyplane.clock import Clock
from keyplane.credentials.hashing import KeyHasher, PresentedKeys
from keyplane.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated
from keyplane.ids import is_id, new_id
from keyplane.keys.decide import decide
from keyplane.keys.model import (
    ADMIN_API_ID,
    ADMIN_KEY_PREFIX,
    Api,
    Code,
    IssuedKey,
    KeyConfig,
    StoredKey,
)
from keyplane.keys.permissions import Grants
from keyplane.keys.repository import KeyRepository
from keyplane.keys.service import mint_key, no_key
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
    "metrics.read",
    "alerts.read", "alerts.write",
    "webhooks.read", "webhooks.write",
    "leaks.report",
    "resource_servers.read", "resource_servers.write",
)
"""Every permission a root key can hold; `*` and `<group>.*` cover several."""

API_SCOPED_PERMISSIONS = frozenset({
    "keys.read", "keys.write", "keys.verify", "keys.*",
    "tokens.introspect", "tokens.read", "tokens.*",
})
"""What a root key bound to an API may hold: its keys, and the token permissions of an SDK
(tokens are bound to audiences, not APIs)."""

API_ID_METADATA = "api_id"
"""The member of a root key's metadata naming the API it is bound to."""

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
    api_id: str | None = None
    """The one API this root key may reach through the key endpoints; None: every API."""

    def require(self, permission: str) -> None:
        """Raises Forbidden unless this root key holds `permission`."""
        if not self.grants.covers(permission):
            raise Forbidden(f"this root key lacks the permission {permission}")

    def require_api(self, api_id: str | None) -> str | None:
        """The API a request naming `api_id` (None: any) is limited to: `api_id` itself for
        a root key of every API, this key's API for a bound one. Raises Forbidden when a
        bound key names another API."""
        if self.api_id is None or api_id == self.api_id:
            return api_id
        if api_id is None:
            return self.api_id
        raise Forbidden(f"this root key is bound to the API {self.api_id}")

    def require_key(self, key: StoredKey) -> None:
        """Raises NotFound when `key` is out of this root key's reach (another API's key
        reads as absent, as to verify)."""
        if self.api_id is not None and key.api_id != self.api_id:
            raise NotFound(f"no key {key.id}")


class ApiLookup(Protocol):
    async def get_api(self, api_id: str) -> Api: ...  # NotFound


class RootKeyService:
    def __init__(self, keys: KeyRepository, hasher: KeyHasher, clock: Clock, apis: ApiLookup) -> None:
        self._keys = keys
        self._apis = apis
        self._hasher = hasher
        self._presented = PresentedKeys(hasher, size=1_000)
        self._clock = clock

    async def authenticate(self, token: str, *, ip: str | None) -> Caller:
        """The root key presented as `token`; raises Unauthenticated for anything else."""
        if not MIN_ROOT_KEY_LENGTH <= len(token) <= MAX_ROOT_KEY_LENGTH:
            raise Unauthenticated("invalid root key")
        stored = await self._presented.find(token, self._keys.by_hash)
        if stored is None or stored.api_id != ADMIN_API_ID:
            raise Unauthenticated("invalid root key")
        if decide(stored, now=self._clock.now(), ip=None, need=None) is not Code.VALID:
            raise Unauthenticated("invalid root key")
        return Caller(actor=Actor(id=stored.id, ip=ip), grants=stored.grants,
                      api_id=bound_api_id(stored))

    async def create(self, caller: Caller, name: str, permissions: tuple[str, ...],
                     api_id: str | None = None) -> IssuedKey:
        """A new root key, bound to `api_id` if given; it can hold no permission its creator
        lacks, nor reach an API its creator cannot. Raises Invalid, Forbidden."""
        api_id = caller.require_api(api_id)
        for permission in permissions:
            problem = root_permission_error(permission)
            if problem:
                raise Invalid.field("permissions", f"{permission!r}: {problem}")
            if api_id is not None and permission not in API_SCOPED_PERMISSIONS:
                raise Invalid.field("permissions", f"{permission!r}: a root key bound to an API holds "
                                    f"only {', '.join(sorted(API_SCOPED_PERMISSIONS))}")
            if not caller.grants.covers(permission):
                raise Forbidden(f"a root key cannot grant {permission}, which it lacks itself")
        if api_id is not None:
            try:
                await self._apis.get_api(api_id)
            except NotFound:
                raise Invalid.field("api_id", f"no API {api_id}") from None
        return await self._issue(caller.actor, name, permissions, api_id)

    async def _issue(self, actor: Actor, name: str, permissions: tuple[str, ...],
                     api_id: str | None = None) -> IssuedKey:
        now = self._clock.now()
        metadata = {API_ID_METADATA: api_id} if api_id is not None else {}
        issued = mint_key(ADMIN_API_ID, ADMIN_KEY_PREFIX,
                          KeyConfig(name=name, permissions=permissions, metadata=metadata), now)
        await self._keys.insert(issued.stored, self._hasher.hash(issued.key),
                                _event(actor, events.ROOT_KEY_CREATE, issued.stored, now))
        return issued

    async def bootstrap(self) -> IssuedKey:
        """A root key with every permission, for `keyplane bootstrap`."""
        return await self._issue(SYSTEM, "bootstrap", ("*",))

    async def ensure(self, token: str) -> bool:
        """Make `token` (KEYPLANE_ROOT_KEY) a root key with `*` on a store without root keys
        (the first start); returns whether it was created. Once any root key exists nothing
        is created, so a deleted KEYPLANE_ROOT_KEY stays deleted across restarts."""
        if await self.any_exist():
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

    async def is_root_key(self, token: str) -> bool:
        stored = await self._keys.by_hash(self._hasher.hash(token))
        return stored is not None and stored.api_id == ADMIN_API_ID

    async def get(self, key_id: str) -> StoredKey:
        key = await self._keys.get(key_id) if is_id(key_id, "key") else None
        if key is None or key.api_id != ADMIN_API_ID:
            raise no_key(key_id, "root key", "root keys are listed with GET /v1/root-keys")
        return key

    async def list(self, *, after: str | None, limit: int) -> Page[StoredKey]:
        rows = await self._keys.page(api_id=ADMIN_API_ID, owner_id=None, after=after, limit=limit + 1)
        return page_of(rows, limit, lambda k: k.id)

    async def delete(self, caller: Caller, key_id: str) -> None:
        """Deletes a root key; raises Forbidden unless `caller` holds every permission of it
        (a weaker key must not remove a stronger one, such as the `*` key or an SDK's key)."""
        key = await self.get(key_id)
        _require_covers(caller, key, "delete")
        now = self._clock.now()
        await self._keys.delete(key.id, _event(caller.actor, events.ROOT_KEY_DELETE, key, now))

    async def count(self) -> int:
        """How many root keys exist (a handful: counted a page at a time)."""
        total, after, size = 0, None, 1000
        while True:
            rows = await self._keys.page(api_id=ADMIN_API_ID, owner_id=None, after=after, limit=size)
            total += len(rows)
            if len(rows) < size:
                return total
            after = rows[-1].id

    async def delete_leaked(self, actor: Actor, key_id: str) -> None:
        """Delete a root key reported leaked (leaks/service.py); no caller's permission is
        asked: the report itself proved the key is out."""
        key = await self.get(key_id)
        now = self._clock.now()
        await self._keys.delete(key.id, _event(actor, events.ROOT_KEY_DELETE, key, now))

    async def any_exist(self) -> bool:
        return bool(await self._keys.page(api_id=ADMIN_API_ID, owner_id=None, after=None, limit=1))


def bound_api_id(key: StoredKey) -> str | None:
    """The API a root key is bound to; None for a root key of every API."""
    api_id = key.config.metadata.get(API_ID_METADATA)
    return api_id if isinstance(api_id, str) else None


def _require_covers(caller: Caller, key: StoredKey, change: str) -> None:
    if caller.api_id is not None and bound_api_id(key) != caller.api_id:
        raise Forbidden(f"a root key bound to an API cannot {change} a root key reaching further")
    for permission in key.config.permissions:
        if not caller.grants.covers(permission):
            raise Forbidden(f"a root key cannot {change} a root key holding {permission}, "
                            "which it lacks itself")


def _event(actor: Actor, action: str, key: StoredKey, at: datetime) -> AuditEvent:
    bound = bound_api_id(key)
    return AuditEvent.of(actor, action, key.id, at, name=key.config.name,
                         permissions=list(key.config.permissions),
                         **({"api_id": bound} if bound is not None else {}))
