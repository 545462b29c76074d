"""APIs (the resources keys belong to) and their roles."""

from __future__ import annotations

from keyplane.audit import events
from keyplane.audit.events import Actor, AuditEvent
from keyplane.clock import Clock
from keyplane.errors import Conflict, Invalid, NotFound
from keyplane.ids import is_id, new_id
from keyplane.keys.changes import KeyChange, KeyChangePublisher
from keyplane.keys.model import ADMIN_API_ID, ADMIN_KEY_PREFIX, Api, Role
from keyplane.keys.permissions import permission_error
from keyplane.keys.repository import ApiRepository
from keyplane.pagination import Page, page_of

DEFAULT_KEY_PREFIX = "key"
MAX_ROLE_NAME_LENGTH = 128


def role_name_error(name: str) -> str | None:
    """Why `name` cannot name a role, or None. A role name is a permission-like dotted name
    without wildcards, so that every role that can be defined can also be given to a key."""
    if "*" in name:
        return "must not contain '*'"
    return permission_error(name)


class ApiService:
    def __init__(self, apis: ApiRepository, clock: Clock, *,
                 changes: KeyChangePublisher | None = None) -> None:
        self._apis = apis
        self._clock = clock
        self._changes = changes

    async def create_api(self, actor: Actor, name: str, key_prefix: str | None,
                         rotation_days: int | None = None) -> Api:
        now = self._clock.now()
        api = Api(id=new_id("api", now), name=name, key_prefix=key_prefix or DEFAULT_KEY_PREFIX,
                  created_at=now, rotation_days=rotation_days)
        await self._apis.insert(api, AuditEvent.of(actor, events.API_CREATE, api.id, now,
                                                   name=name, key_prefix=api.key_prefix,
                                                   rotation_days=rotation_days))
        return api

    async def set_rotation(self, actor: Actor, api_id: str, rotation_days: int | None) -> Api:
        """Set (or, with None, drop) the API's rotation policy (alerts: `key.rotation_due`)."""
        api = await self.get_api(api_id)
        now = self._clock.now()
        return await self._apis.set_rotation(api.id, rotation_days, AuditEvent.of(
            actor, events.API_UPDATE, api.id, now, rotation_days=rotation_days))

    async def get_api(self, api_id: str) -> Api:
        if api_id == ADMIN_API_ID or not is_id(api_id, "api"):
            raise NotFound(f"no API {api_id}")
        return await self._apis.get(api_id)

    async def list_apis(self, *, after: str | None, limit: int) -> Page[Api]:
        return page_of(await self._apis.page(after=after, limit=limit + 1), limit, lambda a: a.id)

    async def delete_api(self, actor: Actor, api_id: str, *, force: bool) -> None:
        api = await self.get_api(api_id)
        now = self._clock.now()
        event = AuditEvent.of(actor, events.API_DELETE, api.id, now, name=api.name, force=force)
        await self._apis.delete(api.id, force=force, event=event)
        await self._changed(api.id, events.API_DELETE)

    async def put_role(self, actor: Actor, api_id: str, name: str, permissions: tuple[str, ...]) -> Role:
        api = await self.get_api(api_id)
        problem = role_name_error(name)
        if problem:
            raise Invalid.field("name", problem)
        now = self._clock.now()
        role = Role(api_id=api.id, name=name, permissions=permissions, created_at=now, updated_at=now)
        # The target is the API (an id that fits the audit column and its filter); the role
        # name, up to 128 characters, goes in the details.
        event = AuditEvent.of(actor, events.ROLE_PUT, api.id, now, role=name,
                              permissions=list(permissions))
        stored = await self._apis.put_role(role, event)
        await self._changed(api.id, events.ROLE_PUT)
        return stored

    async def list_roles(self, api_id: str) -> list[Role]:
        api = await self.get_api(api_id)
        return await self._apis.roles(api.id)

    async def get_role(self, api_id: str, name: str) -> Role:
        api = await self.get_api(api_id)
        # A name no role can have is unknown: never sent to the store (PostgreSQL refuses NUL).
        found = [] if role_name_error(name) else await self._apis.roles(api.id, [name])
        if not found:
            raise NotFound(f"no role {name!r} in API {api_id}")
        return found[0]

    async def delete_role(self, actor: Actor, api_id: str, name: str) -> None:
        api = await self.get_api(api_id)
        if role_name_error(name):
            raise NotFound(f"no role {name!r} in API {api_id}")
        now = self._clock.now()
        event = AuditEvent.of(actor, events.ROLE_DELETE, api.id, now, role=name)
        await self._apis.delete_role(api.id, name, event)
        await self._changed(api.id, events.ROLE_DELETE)

    async def _changed(self, api_id: str, action: str) -> None:
        # A role's permissions are part of every key holding it, and a deleted API takes its
        # keys along: every cached verification of this API must go (docs/sdk.md).
        if self._changes is not None:
            await self._changes.publish(KeyChange(api_id=api_id, key_id=None, action=action))

    async def ensure_admin_api(self) -> None:
        """Create keyplane's own API (whose keys are root keys) if it is missing."""
        try:
            await self._apis.get(ADMIN_API_ID)
        except NotFound:
            now = self._clock.now()
            try:
                await self._apis.insert(Api(id=ADMIN_API_ID, name="keyplane management",
                                            key_prefix=ADMIN_KEY_PREFIX, created_at=now), None)
            except Conflict:
                pass  # another process created it a moment ago
