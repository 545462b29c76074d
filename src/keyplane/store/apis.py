"""ApiRepository in SQLAlchemy Core: APIs and their roles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from keyplane.audit.events import AuditEvent
from keyplane.errors import Conflict, NotFound
from keyplane.keys.model import ADMIN_API_ID, Api, Role
from keyplane.store import audit
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database
from keyplane.store.tables import apis, as_utc, key_roles, keys, roles


def _api(row: Any) -> Api:
    created_at = as_utc(row.created_at)
    assert created_at is not None
    return Api(id=row.id, name=row.name, key_prefix=row.key_prefix, created_at=created_at,
               rotation_days=row.rotation_days)


def _role(row: Any) -> Role:
    created_at, updated_at = as_utc(row.created_at), as_utc(row.updated_at)
    assert created_at is not None and updated_at is not None
    return Role(api_id=row.api_id, name=row.name, permissions=tuple(loads(row.permissions)),
                created_at=created_at, updated_at=updated_at)


class SqlApiRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, api: Api, event: AuditEvent | None) -> None:
        try:
            async with self._db.transaction() as conn:
                await conn.execute(apis.insert().values(
                    id=api.id, name=api.name, key_prefix=api.key_prefix, created_at=api.created_at,
                    rotation_days=api.rotation_days))
                if event is not None:
                    await audit.record(conn, event)
        except sa.exc.IntegrityError:
            raise Conflict(f"API {api.id} exists already") from None

    async def get(self, api_id: str) -> Api:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(apis).where(apis.c.id == api_id))).first()
        if row is None:
            raise NotFound(f"no API {api_id}")
        return _api(row)

    async def set_rotation(self, api_id: str, rotation_days: int | None, event: AuditEvent) -> Api:
        async with self._db.transaction() as conn:
            row = (await conn.execute(apis.update().where(apis.c.id == api_id)
                                      .values(rotation_days=rotation_days).returning(apis))).first()
            if row is None:
                raise NotFound(f"no API {api_id}")
            await audit.record(conn, event)
        return _api(row)

    async def page(self, *, after: str | None, limit: int) -> list[Api]:
        query = sa.select(apis).where(apis.c.id != ADMIN_API_ID).order_by(apis.c.id).limit(limit)
        if after is not None:
            query = query.where(apis.c.id > after)
        async with self._db.engine.connect() as conn:
            return [_api(r) for r in (await conn.execute(query)).all()]

    async def delete(self, api_id: str, *, force: bool, event: AuditEvent) -> int:
        async with self._db.transaction() as conn:
            # FOR UPDATE (PostgreSQL; SQLite transactions are serial already): a key being
            # added meanwhile holds a share lock on this row for its foreign key, so the
            # count below waits for it and sees it, instead of the delete failing.
            found = await conn.execute(sa.select(apis.c.id).where(apis.c.id == api_id).with_for_update())
            if found.first() is None:
                raise NotFound(f"no API {api_id}")
            count = (await conn.execute(
                sa.select(sa.func.count()).select_from(keys).where(keys.c.api_id == api_id)
            )).scalar_one()
            if count and not force:
                raise Conflict(f"API {api_id} still has {count} keys; delete them or pass ?force=true")
            # Children first, explicitly: no reliance on ON DELETE CASCADE being enforced.
            await conn.execute(key_roles.delete().where(key_roles.c.api_id == api_id))
            await conn.execute(keys.delete().where(keys.c.api_id == api_id))
            await conn.execute(roles.delete().where(roles.c.api_id == api_id))
            await conn.execute(apis.delete().where(apis.c.id == api_id))
            await audit.record(conn, event)
            return int(count)

    async def put_role(self, role: Role, event: AuditEvent) -> Role:
        async with self._db.transaction() as conn:
            # One upsert, not update-else-insert: two first PUTs of a role at once would
            # both find nothing to update on PostgreSQL, and the second insert would fail.
            values = {"permissions": dumps(list(role.permissions)), "updated_at": role.updated_at}
            dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            upsert = dialect_insert(roles).values(
                api_id=role.api_id, name=role.name, created_at=role.created_at, **values)
            await conn.execute(upsert.on_conflict_do_update(
                index_elements=[roles.c.api_id, roles.c.name], set_=values))
            await audit.record(conn, event)
            row = (await conn.execute(sa.select(roles).where(
                roles.c.api_id == role.api_id, roles.c.name == role.name))).one()
            return _role(row)

    async def roles(self, api_id: str, names: Sequence[str] | None = None) -> list[Role]:
        query = sa.select(roles).where(roles.c.api_id == api_id).order_by(roles.c.name)
        if names is not None:
            query = query.where(roles.c.name.in_(list(names)))
        async with self._db.engine.connect() as conn:
            return [_role(r) for r in (await conn.execute(query)).all()]

    async def delete_role(self, api_id: str, name: str, event: AuditEvent) -> None:
        async with self._db.transaction() as conn:
            # Locked first (PostgreSQL), for the same reason as in `delete`: a key being given
            # the role meanwhile is waited for and counted, not met by ON DELETE RESTRICT.
            await conn.execute(sa.select(roles.c.name).where(
                roles.c.api_id == api_id, roles.c.name == name).with_for_update())
            held = (await conn.execute(
                sa.select(sa.func.count()).select_from(key_roles)
                .where(key_roles.c.api_id == api_id, key_roles.c.role == name)
            )).scalar_one()
            if held:
                raise Conflict(f"{held} keys hold role {name!r}; take it from them first")
            result = await conn.execute(
                roles.delete().where(roles.c.api_id == api_id, roles.c.name == name))
            if result.rowcount == 0:
                raise NotFound(f"no role {name!r} in API {api_id}")
            await audit.record(conn, event)
