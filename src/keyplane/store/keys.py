"""KeyRepository in SQLAlchemy Core, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keyplane.audit.events import AuditEvent
from keyplane.errors import Conflict, NotFound
from keyplane.keys.model import ADMIN_API_ID, Credits, KeyConfig, RateLimit, Refill, StoredKey
from keyplane.keys.permissions import Grants
from keyplane.store import audit
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database
from keyplane.store.tables import as_utc, key_roles, keys, roles

_KEY_COLUMNS = (
    keys.c.id, keys.c.api_id, keys.c.start, keys.c.name, keys.c.owner_id, keys.c.permissions,
    keys.c.metadata, keys.c.ratelimits, keys.c.credits_remaining, keys.c.credits_refill,
    keys.c.ip_allowlist, keys.c.enabled, keys.c.expires_at, keys.c.created_at,
    keys.c.updated_at, keys.c.last_used_at, keys.c.revoked_at,
)
# One row per role the key holds (or one row with NULLs): roles resolve in the same query.
_WITH_ROLES = sa.select(*_KEY_COLUMNS, key_roles.c.role, roles.c.permissions).select_from(
    keys.outerjoin(key_roles, key_roles.c.key_id == keys.c.id).outerjoin(
        roles, sa.and_(roles.c.api_id == key_roles.c.api_id, roles.c.name == key_roles.c.role)
    )
)
_BY_HASH = _WITH_ROLES.where(keys.c.key_hash == sa.bindparam("key_hash"))


def _config(row: Sequence[Any], roles_held: tuple[str, ...]) -> KeyConfig:
    refill = loads(row[9]) if row[9] is not None else None
    return KeyConfig(
        name=row[3],
        owner_id=row[4],
        permissions=tuple(loads(row[5])),
        roles=roles_held,
        metadata=loads(row[6]),
        ratelimits=tuple(RateLimit(**r) for r in loads(row[7])),
        credits=None if row[8] is None else Credits(row[8], Refill(**refill) if refill else None),
        ip_allowlist=tuple(ipaddress.ip_network(n) for n in loads(row[10])),
        enabled=bool(row[11]),
        expires_at=as_utc(row[12]),
    )


def keys_from_rows(rows: Iterable[Sequence[Any]]) -> list[StoredKey]:
    """Fold `_WITH_ROLES` rows (ordered by key id) into keys; works on raw sqlite3 rows too."""
    grouped: dict[str, list[Sequence[Any]]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    found = []
    for group in grouped.values():
        row = group[0]
        held = tuple(sorted(r[17] for r in group if r[17] is not None))
        config = _config(row, held)
        granted = list(config.permissions)
        for r in group:
            if r[18] is not None:
                granted.extend(loads(r[18]))
        created_at, updated_at = as_utc(row[13]), as_utc(row[14])
        assert created_at is not None and updated_at is not None
        found.append(StoredKey(
            id=row[0], api_id=row[1], start=row[2], config=config,
            created_at=created_at, updated_at=updated_at,
            last_used_at=as_utc(row[15]), revoked_at=as_utc(row[16]), grants=Grants.of(granted),
        ))
    return found


def _config_values(config: KeyConfig) -> dict[str, Any]:
    credits = config.credits
    refill = credits.refill if credits else None
    return {
        "name": config.name,
        "owner_id": config.owner_id,
        "permissions": dumps(list(config.permissions)),
        "metadata": dumps(config.metadata),
        "ratelimits": dumps([
            {"name": r.name, "limit": r.limit, "window_seconds": r.window_seconds, "scope": r.scope}
            for r in config.ratelimits
        ]),
        "credits_remaining": credits.remaining if credits else None,
        "credits_refill": dumps({"amount": refill.amount, "interval": refill.interval,
                                 "interval_seconds": refill.interval_seconds}) if refill else None,
        "ip_allowlist": dumps([str(n) for n in config.ip_allowlist]),
        "enabled": config.enabled,
        "expires_at": config.expires_at,
    }


async def _set_roles(conn: AsyncConnection, key: StoredKey) -> None:
    await conn.execute(key_roles.delete().where(key_roles.c.key_id == key.id))
    if key.config.roles:
        await conn.execute(key_roles.insert(), [
            {"key_id": key.id, "api_id": key.api_id, "role": name} for name in key.config.roles
        ])


async def _insert(conn: AsyncConnection, key: StoredKey, key_hash: bytes) -> None:
    await conn.execute(keys.insert().values(
        id=key.id, api_id=key.api_id, key_hash=key_hash, start=key.start,
        created_at=key.created_at, updated_at=key.updated_at, **_config_values(key.config),
    ))
    await _set_roles(conn, key)


class SqlKeyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        if db.is_sqlite:
            compiled = _BY_HASH.compile(dialect=db.engine.dialect)
            self._sqlite_by_hash = str(compiled)

    async def by_hash(self, key_hash: bytes) -> StoredKey | None:
        if self._db.is_sqlite:
            rows = self._db.sqlite_reader().execute(self._sqlite_by_hash, (key_hash,)).fetchall()
        else:
            async with self._db.engine.connect() as conn:
                rows = list((await conn.execute(_BY_HASH, {"key_hash": key_hash})).all())
        found = keys_from_rows(rows)
        return found[0] if found else None

    async def _get(self, conn: AsyncConnection, key_id: str) -> StoredKey:
        rows = (await conn.execute(_WITH_ROLES.where(keys.c.id == key_id))).all()
        found = keys_from_rows(rows)
        if not found:
            raise NotFound(f"no key {key_id}")
        return found[0]

    async def get(self, key_id: str) -> StoredKey:
        async with self._db.engine.connect() as conn:
            return await self._get(conn, key_id)

    async def page(
        self, *, api_id: str | None, owner_id: str | None, after: str | None, limit: int
    ) -> list[StoredKey]:
        ids = sa.select(keys.c.id).order_by(keys.c.id).limit(limit)
        # Root keys (the admin API's keys) are listed only when asked for by that API's id.
        ids = ids.where(keys.c.api_id == api_id if api_id is not None else keys.c.api_id != ADMIN_API_ID)
        if owner_id is not None:
            ids = ids.where(keys.c.owner_id == owner_id)
        if after is not None:
            ids = ids.where(keys.c.id > after)
        page = ids.subquery()
        query = _WITH_ROLES.join(page, page.c.id == keys.c.id).order_by(keys.c.id, key_roles.c.role)
        async with self._db.engine.connect() as conn:
            return keys_from_rows((await conn.execute(query)).all())

    async def insert(self, key: StoredKey, key_hash: bytes, event: AuditEvent) -> None:
        async with self._db.transaction() as conn:
            await _insert(conn, key, key_hash)
            await audit.record(conn, event)

    async def update(self, key: StoredKey, event: AuditEvent) -> StoredKey:
        async with self._db.transaction() as conn:
            result = await conn.execute(
                keys.update().where(keys.c.id == key.id)
                .values(updated_at=key.updated_at, **_config_values(key.config))
            )
            if result.rowcount == 0:
                raise NotFound(f"no key {key.id}")
            await _set_roles(conn, key)
            await audit.record(conn, event)
            return await self._get(conn, key.id)

    async def revoke(self, key_id: str, at: datetime, event: AuditEvent) -> StoredKey:
        async with self._db.transaction() as conn:
            result = await conn.execute(
                keys.update().where(keys.c.id == key_id, keys.c.revoked_at.is_(None))
                .values(revoked_at=at, updated_at=at)
            )
            key = await self._get(conn, key_id)  # NotFound when the id is unknown
            if result.rowcount:
                await audit.record(conn, event)
            return key

    async def roll(
        self, old: StoredKey, old_expires_at: datetime, new: StoredKey, new_hash: bytes,
        event: AuditEvent,
    ) -> None:
        async with self._db.transaction() as conn:
            result = await conn.execute(
                keys.update().where(keys.c.id == old.id, keys.c.revoked_at.is_(None))
                .values(expires_at=old_expires_at, updated_at=new.created_at)
            )
            if result.rowcount == 0:
                raise Conflict(f"key {old.id} was revoked or deleted meanwhile")
            await _insert(conn, new, new_hash)
            await audit.record(conn, event)

    async def delete(self, key_id: str, event: AuditEvent) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(key_roles.delete().where(key_roles.c.key_id == key_id))
            result = await conn.execute(keys.delete().where(keys.c.id == key_id))
            if result.rowcount == 0:
                raise NotFound(f"no key {key_id}")
            await audit.record(conn, event)
