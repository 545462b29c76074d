"""Resource servers and their encryption keys (oauth/resource_servers.py)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from keyplane.audit.events import AuditEvent
from keyplane.errors import Conflict, NotFound
from keyplane.oauth.resource_servers import ResourceServer
from keyplane.store import audit
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database
from keyplane.store.tables import as_utc, resource_servers


def _server(row: Any) -> ResourceServer:
    created_at, updated_at = as_utc(row.created_at), as_utc(row.updated_at)
    assert created_at is not None and updated_at is not None
    return ResourceServer(id=row.id, audience=row.audience, encryption_jwk=loads(row.encryption_jwk),
                          created_at=created_at, updated_at=updated_at)


class SqlResourceServerRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, server: ResourceServer, event: AuditEvent) -> None:
        try:
            async with self._db.transaction() as conn:
                await conn.execute(resource_servers.insert().values(
                    id=server.id, audience=server.audience,
                    encryption_jwk=dumps(server.encryption_jwk), created_at=server.created_at,
                    updated_at=server.updated_at))
                await audit.record(conn, event)
        except sa.exc.IntegrityError:
            raise Conflict(f"a resource server for {server.audience} exists already") from None

    async def get(self, server_id: str) -> ResourceServer:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(resource_servers).where(
                resource_servers.c.id == server_id))).first()
        if row is None:
            raise NotFound(f"no resource server {server_id}")
        return _server(row)

    async def page(self, *, after: str | None, limit: int) -> list[ResourceServer]:
        query = sa.select(resource_servers).order_by(resource_servers.c.id).limit(limit)
        if after is not None:
            query = query.where(resource_servers.c.id > after)
        async with self._db.engine.connect() as conn:
            return [_server(r) for r in (await conn.execute(query)).all()]

    async def all(self) -> list[ResourceServer]:
        async with self._db.engine.connect() as conn:
            return [_server(r) for r in (await conn.execute(sa.select(resource_servers))).all()]

    async def update(self, server: ResourceServer, event: AuditEvent) -> ResourceServer:
        try:
            async with self._db.transaction() as conn:
                result = await conn.execute(resource_servers.update().where(
                    resource_servers.c.id == server.id).values(
                    audience=server.audience, encryption_jwk=dumps(server.encryption_jwk),
                    updated_at=server.updated_at))
                if result.rowcount == 0:
                    raise NotFound(f"no resource server {server.id}")
                await audit.record(conn, event)
        except sa.exc.IntegrityError:
            raise Conflict(f"a resource server for {server.audience} exists already") from None
        return server

    async def delete(self, server_id: str, event: AuditEvent) -> None:
        async with self._db.transaction() as conn:
            result = await conn.execute(resource_servers.delete().where(
                resource_servers.c.id == server_id))
            if result.rowcount == 0:
                raise NotFound(f"no resource server {server_id}")
            await audit.record(conn, event)
