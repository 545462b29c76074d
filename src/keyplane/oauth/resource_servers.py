"""Resource servers: APIs that receive their access tokens encrypted to their own key.

A resource server is an audience (the `aud` its tokens carry, an absolute URI) and a public
encryption key (jose/jwe.py). JWT access tokens whose audience is a registered resource
server are nested JWTs: signed by keyplane, then encrypted to that key, so only that API
reads their claims. `for_audience` is asked on every JWT issued: every resource server is
kept in memory, read again after a change made here and at most `RELOAD_SECONDS` after one
made by another process.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from keyplane.audit import events
from keyplane.audit.events import Actor, AuditEvent
from keyplane.clock import Clock
from keyplane.errors import FieldError, Invalid, NotFound
from keyplane.ids import is_id, new_id
from keyplane.jose.jwe import EncryptionKey, encryption_key
from keyplane.oauth.client_metadata import resource_uri_error
from keyplane.pagination import Page, page_of

RELOAD_SECONDS = 5.0
UPDATABLE = ("audience", "encryption_jwk")


@dataclass(frozen=True, slots=True)
class ResourceServer:
    id: str
    audience: str
    encryption_jwk: dict[str, Any]  # public; `alg`, `use` and `kid` filled in
    created_at: datetime
    updated_at: datetime


class ResourceServerRepository(Protocol):
    async def insert(self, server: ResourceServer, event: AuditEvent) -> None:
        """Raises Conflict when the audience is registered already."""
        ...

    async def get(self, server_id: str) -> ResourceServer:
        """Raises NotFound."""
        ...

    async def page(self, *, after: str | None, limit: int) -> list[ResourceServer]: ...

    async def all(self) -> list[ResourceServer]: ...

    async def update(self, server: ResourceServer, event: AuditEvent) -> ResourceServer:
        """Raises NotFound, Conflict."""
        ...

    async def delete(self, server_id: str, event: AuditEvent) -> None:
        """Raises NotFound."""
        ...


def _checked(audience: object, jwk: object) -> tuple[str, dict[str, Any]]:
    """The audience and the JWK as stored; raises Invalid naming every field that breaks a
    rule."""
    errors: list[FieldError] = []
    problem = resource_uri_error(audience)
    if problem:
        errors.append(FieldError("audience", problem))
    stored: dict[str, Any] = {}
    try:
        stored, _key = encryption_key(jwk)
    except Invalid as exc:
        errors.extend(exc.errors)
    if errors:
        raise Invalid(errors)
    assert isinstance(audience, str)
    return audience, stored


class ResourceServerService:
    def __init__(self, repository: ResourceServerRepository, clock: Clock) -> None:
        self._repository = repository
        self._clock = clock
        self._by_audience: dict[str, tuple[dict[str, Any], EncryptionKey]] = {}
        self._loaded_at: float | None = None

    async def create(self, actor: Actor, audience: object, jwk: object) -> ResourceServer:
        """Raises Invalid, Conflict (the audience is registered already)."""
        audience, stored = _checked(audience, jwk)
        now = self._clock.now()
        server = ResourceServer(id=new_id("rs", now), audience=audience, encryption_jwk=stored,
                                created_at=now, updated_at=now)
        await self._repository.insert(server, AuditEvent.of(
            actor, events.RESOURCE_SERVER_CREATE, server.id, now, audience=audience,
            kid=stored["kid"], alg=stored["alg"]))
        self._loaded_at = None
        return server

    async def get(self, server_id: str) -> ResourceServer:
        if not is_id(server_id, "rs"):
            raise NotFound(f"no resource server {server_id}")
        return await self._repository.get(server_id)

    async def list(self, *, after: str | None, limit: int) -> Page[ResourceServer]:
        return page_of(await self._repository.page(after=after, limit=limit + 1), limit,
                       lambda s: s.id)

    async def update(self, actor: Actor, server_id: str, changes: Mapping[str, Any]) -> ResourceServer:
        unknown = sorted(set(changes) - set(UPDATABLE))
        if unknown:
            raise Invalid.field(unknown[0], "cannot be changed")
        server = await self.get(server_id)
        audience, stored = _checked(changes.get("audience", server.audience),
                                    changes.get("encryption_jwk", server.encryption_jwk))
        now = self._clock.now()
        updated = dataclasses.replace(server, audience=audience, encryption_jwk=stored, updated_at=now)
        result = await self._repository.update(updated, AuditEvent.of(
            actor, events.RESOURCE_SERVER_UPDATE, server.id, now, fields=sorted(changes),
            audience=audience, kid=stored["kid"]))
        self._loaded_at = None
        return result

    async def delete(self, actor: Actor, server_id: str) -> None:
        server = await self.get(server_id)
        await self._repository.delete(server.id, AuditEvent.of(
            actor, events.RESOURCE_SERVER_DELETE, server.id, self._clock.now(),
            audience=server.audience))
        self._loaded_at = None

    async def for_audience(self, audience: str) -> tuple[dict[str, Any], EncryptionKey] | None:
        """The encryption JWK and key of the resource server `audience`; None when it is not
        one."""
        now = time.monotonic()
        if self._loaded_at is None or now - self._loaded_at >= RELOAD_SECONDS:
            loaded = {}
            for server in await self._repository.all():
                loaded[server.audience] = encryption_key(server.encryption_jwk)
            self._by_audience, self._loaded_at = loaded, now
        return self._by_audience.get(audience)
