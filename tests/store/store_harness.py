"""The store under test: its repositories, and builders that keep time moving forward."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from keyplane.audit.events import Actor, AuditEvent
from keyplane.ids import new_id
from keyplane.keys.model import Api, KeyConfig, Role, StoredKey
from keyplane.keys.permissions import Grants
from keyplane.store.apis import SqlApiRepository
from keyplane.store.audit import SqlAuditLog
from keyplane.store.engine import Database
from keyplane.store.keys import SqlKeyRepository
from keyplane.store.meta import SqlMeta
from keyplane.store.tables import metadata


async def empty_tables(db: Database) -> None:
    """PostgreSQL's test database lives for the whole run: every test starts from empty tables."""
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    async with db.transaction() as conn:
        await conn.execute(sa.text(f"TRUNCATE {names} CASCADE"))


ACTOR = Actor(id="key_actor", ip="192.0.2.10")
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Store:
    """The repositories over one database; every builder moves `now` on by a millisecond."""

    db: Database
    keys: SqlKeyRepository
    apis: SqlApiRepository
    audit: SqlAuditLog
    meta: SqlMeta
    now: datetime = START
    hashes: dict[str, bytes] = field(default_factory=dict)

    def tick(self, milliseconds: int = 1) -> datetime:
        self.now += timedelta(milliseconds=milliseconds)
        return self.now

    def event(self, action: str, target: str, **details: Any) -> AuditEvent:
        return AuditEvent.of(ACTOR, action, target, self.tick(), **details)

    async def add_api(self, prefix: str = "sk_test") -> Api:
        at = self.tick()
        api = Api(id=new_id("api", at), name="documents", key_prefix=prefix, created_at=at)
        await self.apis.insert(api, self.event("api.create", api.id))
        return api

    async def add_role(self, api: Api, name: str, *permissions: str) -> Role:
        at = self.tick()
        role = Role(api_id=api.id, name=name, permissions=permissions, created_at=at, updated_at=at)
        return await self.apis.put_role(role, self.event("role.put", f"{api.id}/roles/{name}"))

    def new_key(self, api_id: str, **config: Any) -> StoredKey:
        at = self.tick()
        key_config = KeyConfig(**config)
        key = StoredKey(id=new_id("key", at), api_id=api_id, start="sk_test_AbCd", config=key_config,
                        created_at=at, updated_at=at, grants=Grants.of(key_config.permissions))
        self.hashes[key.id] = bytes((1,)) + secrets.token_bytes(32)
        return key

    async def add_key(self, api_id: str, **config: Any) -> StoredKey:
        key = self.new_key(api_id, **config)
        await self.keys.insert(key, self.hashes[key.id], self.event("key.create", key.id))
        return key

    async def events(self, target: str | None = None, action: str | None = None) -> list[AuditEvent]:
        return await self.audit.page(since=None, actor=None, action=action, target=target,
                                     before=None, limit=1000)

    async def count(self, table: sa.Table) -> int:
        async with self.db.engine.connect() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())



    @classmethod
    def over(cls, db: Database) -> Store:
        return cls(db=db, keys=SqlKeyRepository(db), apis=SqlApiRepository(db),
                   audit=SqlAuditLog(db), meta=SqlMeta(db))
