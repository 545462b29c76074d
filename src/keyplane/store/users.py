"""UserRepository in SQLAlchemy Core: users, their roles, roles of people, consents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from keyplane.audit.events import AuditEvent
from keyplane.errors import Conflict, Invalid, NotFound
from keyplane.store import audit
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database
from keyplane.store.tables import (
    as_utc,
    browser_sessions,
    consents,
    scope_roles,
    user_roles,
    users,
)
from keyplane.users.model import Consent, LoginRecord, Profile, ScopeRole, User

_USER_COLUMNS = (users.c.id, users.c.username, users.c.disabled, users.c.created_at,
                 users.c.updated_at, users.c.last_login_at, users.c.name, users.c.email,
                 users.c.email_verified)


def _time(value: Any) -> datetime:
    when = as_utc(value)
    assert when is not None
    return when


def _user(row: Any, roles: Sequence[str]) -> User:
    return User(id=row.id, username=row.username, roles=tuple(sorted(roles)),
                disabled=bool(row.disabled), created_at=_time(row.created_at),
                updated_at=_time(row.updated_at), last_login_at=as_utc(row.last_login_at),
                profile=Profile(name=row.name, email=row.email,
                                email_verified=bool(row.email_verified)))


def _profile_values(profile: Profile) -> dict[str, Any]:
    return {"name": profile.name, "email": profile.email,
            "email_verified": profile.email_verified}


def _role(row: Any) -> ScopeRole:
    return ScopeRole(name=row.name, scopes=tuple(loads(row.scopes)),
                     created_at=_time(row.created_at), updated_at=_time(row.updated_at))


async def _roles_of(conn: AsyncConnection, user_ids: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {u: [] for u in user_ids}
    if user_ids:
        rows = await conn.execute(sa.select(user_roles.c.user_id, user_roles.c.role)
                                  .where(user_roles.c.user_id.in_(list(user_ids))))
        for user_id, role in rows.all():
            found[user_id].append(role)
    return found


async def _get(conn: AsyncConnection, user_id: str) -> User:
    row = (await conn.execute(sa.select(*_USER_COLUMNS).where(users.c.id == user_id))).first()
    if row is None:
        raise NotFound(f"no user {user_id}")
    return _user(row, (await _roles_of(conn, [user_id]))[user_id])


def _integrity(exc: sa.exc.IntegrityError) -> Exception:
    text = str(exc.orig).lower()
    if "username" in text:
        return Conflict("a user with this username exists already")
    if "foreign" in text:
        return Invalid.field("roles", "names a role that does not exist")
    return Conflict("the user changed meanwhile; try again")


class SqlUserRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, user: User, *, username_key: str, password_hash: str,
                     event: AuditEvent) -> None:
        try:
            async with self._db.transaction() as conn:
                await conn.execute(users.insert().values(
                    id=user.id, username=user.username, username_key=username_key,
                    password_hash=password_hash, disabled=user.disabled,
                    created_at=user.created_at, updated_at=user.updated_at,
                    **_profile_values(user.profile)))
                if user.roles:
                    await conn.execute(user_roles.insert(),
                                       [{"user_id": user.id, "role": r} for r in user.roles])
                await audit.record(conn, event)
        except sa.exc.IntegrityError as exc:
            raise _integrity(exc) from None

    async def get(self, user_id: str) -> User:
        async with self._db.engine.connect() as conn:
            return await _get(conn, user_id)

    async def login_record(self, username_key: str) -> LoginRecord | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(*_USER_COLUMNS, users.c.password_hash)
                                      .where(users.c.username_key == username_key))).first()
            if row is None:
                return None
            roles = (await _roles_of(conn, [row.id]))[row.id]
        return LoginRecord(user=_user(row, roles), password_hash=row.password_hash)

    async def page(self, *, after: str | None, limit: int) -> list[User]:
        query = sa.select(*_USER_COLUMNS).order_by(users.c.id).limit(limit)
        if after is not None:
            query = query.where(users.c.id > after)
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            roles = await _roles_of(conn, [r.id for r in rows])
        return [_user(r, roles[r.id]) for r in rows]

    async def update(self, user_id: str, *, at: datetime, event: AuditEvent,
                     username: tuple[str, str] | None = None, password_hash: str | None = None,
                     roles: tuple[str, ...] | None = None, disabled: bool | None = None,
                     profile: Profile | None = None) -> User:
        values: dict[str, Any] = {"updated_at": at}
        if username is not None:
            values.update(username=username[0], username_key=username[1])
        if password_hash is not None:
            values["password_hash"] = password_hash
        if disabled is not None:
            values["disabled"] = disabled
        if profile is not None:
            values.update(_profile_values(profile))
        try:
            async with self._db.transaction() as conn:
                result = await conn.execute(users.update().where(users.c.id == user_id).values(**values))
                if result.rowcount == 0:
                    raise NotFound(f"no user {user_id}")
                if roles is not None:
                    await conn.execute(user_roles.delete().where(user_roles.c.user_id == user_id))
                    if roles:
                        await conn.execute(user_roles.insert(),
                                           [{"user_id": user_id, "role": r} for r in roles])
                if disabled or password_hash is not None:
                    # A disabled user, or one whose password changed (perhaps because it
                    # leaked), is logged out everywhere at once.
                    await conn.execute(browser_sessions.delete()
                                       .where(browser_sessions.c.user_id == user_id))
                await audit.record(conn, event)
                return await _get(conn, user_id)
        except sa.exc.IntegrityError as exc:
            raise _integrity(exc) from None

    async def delete(self, user_id: str, event: AuditEvent) -> None:
        async with self._db.transaction() as conn:
            # Children first, explicitly: no reliance on ON DELETE CASCADE being enforced.
            for table in (browser_sessions, consents, user_roles):
                await conn.execute(table.delete().where(table.c.user_id == user_id))
            result = await conn.execute(users.delete().where(users.c.id == user_id))
            if result.rowcount == 0:
                raise NotFound(f"no user {user_id}")
            await audit.record(conn, event)

    async def record_login(self, user_id: str, at: datetime, event: AuditEvent,
                           rehashed: str | None) -> None:
        values: dict[str, Any] = {"last_login_at": at}
        if rehashed is not None:
            values["password_hash"] = rehashed
        async with self._db.transaction() as conn:
            await conn.execute(users.update().where(users.c.id == user_id).values(**values))
            await audit.record(conn, event)

    async def put_role(self, role: ScopeRole, event: AuditEvent) -> ScopeRole:
        async with self._db.transaction() as conn:
            values = {"scopes": dumps(list(role.scopes)), "updated_at": role.updated_at}
            dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            upsert = dialect_insert(scope_roles).values(name=role.name, created_at=role.created_at,
                                                        **values)
            await conn.execute(upsert.on_conflict_do_update(index_elements=[scope_roles.c.name],
                                                            set_=values))
            await audit.record(conn, event)
            row = (await conn.execute(sa.select(scope_roles)
                                      .where(scope_roles.c.name == role.name))).one()
            return _role(row)

    async def roles(self, names: Sequence[str] | None = None) -> list[ScopeRole]:
        query = sa.select(scope_roles).order_by(scope_roles.c.name)
        if names is not None:
            query = query.where(scope_roles.c.name.in_(list(names)))
        async with self._db.engine.connect() as conn:
            return [_role(r) for r in (await conn.execute(query)).all()]

    async def delete_role(self, name: str, event: AuditEvent) -> None:
        async with self._db.transaction() as conn:
            # Locked first (PostgreSQL): a user being given the role meanwhile is waited
            # for and counted, not met by ON DELETE RESTRICT.
            await conn.execute(sa.select(scope_roles.c.name)
                               .where(scope_roles.c.name == name).with_for_update())
            held = (await conn.execute(sa.select(sa.func.count()).select_from(user_roles)
                                       .where(user_roles.c.role == name))).scalar_one()
            if held:
                raise Conflict(f"{held} users hold role {name!r}; take it from them first")
            result = await conn.execute(scope_roles.delete().where(scope_roles.c.name == name))
            if result.rowcount == 0:
                raise NotFound(f"no role {name!r}")
            await audit.record(conn, event)

    async def consents(self, user_id: str) -> list[Consent]:
        query = (sa.select(consents).where(consents.c.user_id == user_id)
                 .order_by(consents.c.client_id))
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Consent(client_id=r.client_id, scopes=tuple(loads(r.scopes)),
                        granted_at=_time(r.granted_at)) for r in rows]

    async def consent(self, user_id: str, client_id: str) -> Consent | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(consents).where(
                consents.c.user_id == user_id, consents.c.client_id == client_id))).first()
        if row is None:
            return None
        return Consent(client_id=row.client_id, scopes=tuple(loads(row.scopes)),
                       granted_at=_time(row.granted_at))

    async def grant_consent(self, user_id: str, consent: Consent, event: AuditEvent) -> None:
        values = {"scopes": dumps(list(consent.scopes)), "granted_at": consent.granted_at}
        try:
            async with self._db.transaction() as conn:
                dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
                upsert = dialect_insert(consents).values(user_id=user_id,
                                                         client_id=consent.client_id, **values)
                await conn.execute(upsert.on_conflict_do_update(
                    index_elements=[consents.c.user_id, consents.c.client_id], set_=values))
                await audit.record(conn, event)
        except sa.exc.IntegrityError:
            raise NotFound("the user or the client was deleted meanwhile") from None

    async def withdraw_consent(self, user_id: str, client_id: str, event: AuditEvent) -> None:
        async with self._db.transaction() as conn:
            result = await conn.execute(consents.delete().where(
                consents.c.user_id == user_id, consents.c.client_id == client_id))
            if result.rowcount == 0:
                raise NotFound(f"no consent of {user_id} for {client_id}")
            await audit.record(conn, event)
