"""KeyRepository in SQLAlchemy Core, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keyplane.audit.events import AuditEvent
from keyplane.errors import Conflict, NotFound
from keyplane.keys.changes import KeyChange
from keyplane.metering.credits import key_boundary
from keyplane.keys.model import (
    ADMIN_API_ID,
    Credits,
    KeyConfig,
    KeyState,
    RateLimit,
    Refill,
    StoredKey,
)
from keyplane.keys.permissions import Grants
from keyplane.store import audit
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database
from keyplane.store.key_cache import KeyCache
from keyplane.store.tables import as_utc, key_roles, keys, roles

def _expired(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(keys.c.expires_at.is_not(None), keys.c.expires_at <= now)


# keys/model.py `key_state` as SQL conditions.
_STATE_RULES: dict[KeyState, Callable[[datetime], sa.ColumnElement[bool]]] = {
    "revoked": lambda now: keys.c.revoked_at.is_not(None),
    "expired": lambda now: sa.and_(keys.c.revoked_at.is_(None), _expired(now)),
    "disabled": lambda now: sa.and_(keys.c.revoked_at.is_(None), sa.not_(_expired(now)),
                                    keys.c.enabled.is_(False)),
    "active": lambda now: sa.and_(keys.c.revoked_at.is_(None), sa.not_(_expired(now)),
                                  keys.c.enabled.is_(True)),
}

# The key a rolled key was rolled into, which keeps the balance both spend.
_keeper = keys.alias("keeper")
_KEY_COLUMNS = (
    keys.c.id, keys.c.api_id, keys.c.start, keys.c.name, keys.c.owner_id, keys.c.permissions,
    keys.c.metadata, keys.c.ratelimits,
    # The key's own credits, or its keeper's; none left when the keeper was deleted.
    sa.case((keys.c.credits_key_id.is_(None), keys.c.credits_remaining),
            (_keeper.c.id.is_(None), sa.literal_column("0")),
            else_=_keeper.c.credits_remaining).label("credits_remaining"),
    sa.case((keys.c.credits_key_id.is_(None), keys.c.credits_refill),
            else_=_keeper.c.credits_refill).label("credits_refill"),
    keys.c.ip_allowlist, keys.c.enabled, keys.c.expires_at, keys.c.created_at,
    keys.c.updated_at, keys.c.last_used_at, keys.c.revoked_at,
    keys.c.credits_key_id, _keeper.c.created_at.label("kept_since"),
)
# One row per role the key holds (or one row with NULLs): roles resolve in the same query.
_WITH_ROLES = sa.select(*_KEY_COLUMNS, key_roles.c.role,
                        roles.c.permissions.label("role_permissions")).select_from(
    keys.outerjoin(_keeper, _keeper.c.id == keys.c.credits_key_id)
    .outerjoin(key_roles, key_roles.c.key_id == keys.c.id).outerjoin(
        roles, sa.and_(roles.c.api_id == key_roles.c.api_id, roles.c.name == key_roles.c.role)
    )
)
_BY_HASH = _WITH_ROLES.where(keys.c.key_hash == sa.bindparam("key_hash"))
# Where each column is in a `_WITH_ROLES` row, by name: raw sqlite3 rows (the hot
# connection's) are plain tuples, so rows are read by these positions, looked up once here.
_AT = {column.name: i for i, column in enumerate(_WITH_ROLES.selected_columns)}
(_ID, _API_ID, _START, _NAME, _OWNER_ID, _PERMISSIONS, _METADATA, _RATELIMITS, _CREDITS,
 _REFILL, _IP_ALLOWLIST, _ENABLED, _EXPIRES_AT, _CREATED_AT, _UPDATED_AT, _LAST_USED_AT,
 _REVOKED_AT, _KEPT_BY, _KEPT_SINCE, _ROLE, _ROLE_PERMISSIONS) = (_AT[name] for name in (
    "id", "api_id", "start", "name", "owner_id", "permissions", "metadata", "ratelimits",
    "credits_remaining", "credits_refill", "ip_allowlist", "enabled", "expires_at",
    "created_at", "updated_at", "last_used_at", "revoked_at", "credits_key_id", "kept_since",
    "role", "role_permissions"))


def _credits(row: Sequence[Any]) -> Credits | None:
    if row[_CREDITS] is None:
        return None
    refill = loads(row[_REFILL]) if row[_REFILL] is not None else None
    return Credits(row[_CREDITS], Refill(**refill) if refill else None, kept_by=row[_KEPT_BY],
                   kept_since=as_utc(row[_KEPT_SINCE]))


def _config(row: Sequence[Any], roles_held: tuple[str, ...]) -> KeyConfig:
    ratelimits, allowlist = row[_RATELIMITS], row[_IP_ALLOWLIST]
    return KeyConfig(
        name=row[_NAME],
        owner_id=row[_OWNER_ID],
        permissions=tuple(loads(row[_PERMISSIONS])),
        roles=roles_held,
        metadata=loads(row[_METADATA]),
        ratelimits=() if ratelimits == "[]" else tuple(RateLimit(**r) for r in loads(ratelimits)),
        credits=_credits(row),
        ip_allowlist=() if allowlist == "[]" else tuple(ipaddress.ip_network(n) for n in loads(allowlist)),
        enabled=bool(row[_ENABLED]),
        expires_at=as_utc(row[_EXPIRES_AT]),
    )


def keys_from_rows(rows: Iterable[Sequence[Any]]) -> list[StoredKey]:
    """Fold `_WITH_ROLES` rows (ordered by key id) into keys; works on raw sqlite3 rows too."""
    grouped: dict[str, list[Sequence[Any]]] = {}
    for row in rows:
        grouped.setdefault(row[_ID], []).append(row)
    found = []
    for group in grouped.values():
        row = group[0]
        if len(group) == 1 and row[_ROLE] is None:  # no roles: the common case, and the hot path
            config = _config(row, ())
            granted: Iterable[str] = config.permissions
        else:
            config = _config(row, tuple(sorted(r[_ROLE] for r in group if r[_ROLE] is not None)))
            with_roles = list(config.permissions)
            for r in group:
                if r[_ROLE_PERMISSIONS] is not None:
                    with_roles.extend(loads(r[_ROLE_PERMISSIONS]))
            granted = with_roles
        created_at = as_utc(row[_CREATED_AT])
        # One parse when never updated.
        updated_at = created_at if row[_UPDATED_AT] == row[_CREATED_AT] else as_utc(row[_UPDATED_AT])
        assert created_at is not None and updated_at is not None
        found.append(StoredKey(
            id=row[_ID], api_id=row[_API_ID], start=row[_START], config=config,
            created_at=created_at, updated_at=updated_at,
            last_used_at=as_utc(row[_LAST_USED_AT]), revoked_at=as_utc(row[_REVOKED_AT]),
            grants=Grants.of(granted),
        ))
    return found


def _config_values(config: KeyConfig, at: datetime,
                   fields: Collection[str] | None = None) -> dict[str, Any]:
    """The columns of `config`; only those of `fields` (KeyConfig names) when given, so an
    update never writes back a balance it did not mean to change."""
    credits = config.credits
    refill = credits.refill if credits else None
    values = {
        "name": config.name,
        "owner_id": config.owner_id,
        "permissions": dumps(list(config.permissions)),
        "metadata": dumps(config.metadata),
        "ratelimits": dumps([
            {"name": r.name, "limit": r.limit, "window_seconds": r.window_seconds, "scope": r.scope,
             "fail_open": r.fail_open}
            for r in config.ratelimits
        ]),
        # A rolled key's balance is its keeper's: its own column stays empty.
        "credits_remaining": credits.remaining if credits and credits.kept_by is None else None,
        "credits_key_id": credits.kept_by if credits else None,
        "credits_refill": dumps({"amount": refill.amount, "interval": refill.interval,
                                 "interval_seconds": refill.interval_seconds}) if refill else None,
        # A balance set now counts as this period's refill: the next one is at the next boundary.
        "credits_refilled_at": at if credits else None,
        "ip_allowlist": dumps([str(n) for n in config.ip_allowlist]),
        "enabled": config.enabled,
        "expires_at": config.expires_at,
    }
    if fields is None:
        return values
    columns = {c for f in fields for c in _COLUMNS.get(f, (f,))}
    return {k: v for k, v in values.items() if k in columns}


_COLUMNS = {"credits": ("credits_remaining", "credits_refill", "credits_refilled_at", "credits_key_id"),
            "roles": ()}


async def _set_roles(conn: AsyncConnection, key: StoredKey) -> None:
    await conn.execute(key_roles.delete().where(key_roles.c.key_id == key.id))
    if key.config.roles:
        await conn.execute(key_roles.insert(), [
            {"key_id": key.id, "api_id": key.api_id, "role": name} for name in key.config.roles
        ])


async def _insert(conn: AsyncConnection, key: StoredKey, key_hash: bytes) -> None:
    await conn.execute(keys.insert().values(
        id=key.id, api_id=key.api_id, key_hash=key_hash, start=key.start,
        created_at=key.created_at, updated_at=key.updated_at,
        **_config_values(key.config, key.created_at),
    ))
    await _set_roles(conn, key)


async def _move_balance(conn: AsyncConnection, old: StoredKey, new: StoredKey) -> None:
    """A roll: the old key's balance as it stands in the roll's transaction (which holds the
    old row), with a due refill applied, becomes the new key's; the old key, and any key
    rolled into it before, spend it from there. A spend racing the roll on the old row finds
    it empty once the roll commits: refused, never spent twice."""
    row = (await conn.execute(sa.select(keys.c.credits_remaining, keys.c.credits_refilled_at)
                              .where(keys.c.id == old.id))).one()
    balance = row.credits_remaining
    boundary = key_boundary(old, new.created_at)
    refilled_at = as_utc(row.credits_refilled_at)
    refill = old.config.credits.refill if old.config.credits else None
    if balance is not None and refill is not None and boundary is not None and (
            refilled_at is None or refilled_at < boundary):
        balance = refill.amount
    await conn.execute(keys.update().where(keys.c.id == new.id).values(credits_remaining=balance))
    await conn.execute(keys.update().where(sa.or_(keys.c.id == old.id, keys.c.credits_key_id == old.id))
                       .values(credits_key_id=new.id, credits_remaining=None))


PG_BALANCE_SECONDS = 1.0


class SqlKeyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        if db.is_sqlite:
            compiled = _BY_HASH.compile(dialect=db.engine.dialect)
            self._sqlite_by_hash = str(compiled)
        self.cache = KeyCache()
        # SQLite: the kept keys are those of data version `_seen_version` of `_seen_reader`.
        self._seen_reader: object | None = None
        self._seen_version = -1

    async def by_hash(self, key_hash: bytes) -> StoredKey | None:
        if not self._db.is_sqlite:
            try:
                return await self._pg_by_hash(key_hash)
            except sa.exc.DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # The pooled connection had died (database restart): once more, on a fresh one.
                return await self._pg_by_hash(key_hash)
        return self._sqlite_by_hash_cached(key_hash)

    async def _pg_by_hash(self, key_hash: bytes) -> StoredKey | None:
        # Kept while PostgreSQL tells this process of every change (store/key_cache.py): a
        # hit costs a dict lookup instead of a round trip. A key with credits is read
        # again after PG_BALANCE_SECONDS, so the balance it reports follows other
        # processes' spends as closely as their leases let it (metering/leases.py).
        cache = self.cache
        if cache.listening and (kept := cache.kept.get(key_hash)) is not None:
            read_at = cache.read_at.get(key_hash)
            if read_at is None or time.monotonic() - read_at < PG_BALANCE_SECONDS:
                return kept
        generation = cache.generation
        async with self._db.engine.connect() as conn:
            # One SELECT needs no transaction around it: autocommit saves the BEGIN and
            # ROLLBACK round trips (~20 % of the lookup on loopback).
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            found = keys_from_rows((await conn.execute(_BY_HASH, {"key_hash": key_hash})).all())
        if not found:
            return None
        # Kept only if no change was told while the row was read: the row read may be the
        # one from before that change (its notice would then have found nothing to drop).
        if cache.listening and generation == cache.generation:
            cache.keep(key_hash, found[0])
            if found[0].config.credits is not None:
                cache.read_at[key_hash] = time.monotonic()
        return found[0]

    # What store/change_notices.py, the key-change hub and the credit ledger tell: the cache's.
    def set_listening(self, listening: bool) -> None:
        self.cache.set_listening(listening)

    def notice(self, payload: str) -> None:
        self.cache.notice(payload)

    def change_published(self, change: KeyChange) -> None:
        self.cache.change_published(change)

    def note_balance(self, key_id: str, balance: int) -> None:
        """A credit statement on the hot connection left the balance key `key_id` keeps at
        `balance`: that connection's own commits do not move `PRAGMA data_version`, so the
        kept keys are brought up to date here (the verify answer reports the balance of the
        kept key when it spends nothing)."""
        self.cache.note_balance(key_id, balance)

    def _sqlite_by_hash_cached(self, key_hash: bytes) -> StoredKey | None:
        # A hit costs `PRAGMA data_version` (~2.5 µs, once a loop turn) instead of the
        # lookup and its decoding (~13 µs); the version is read before the lookup, so a
        # commit after it moves the version and the row read is never trusted again.
        cache = self.cache
        reader = self._db.sqlite_reader()
        if reader is not self._seen_reader:  # a new connection counts versions afresh
            cache.forget_all()
            self._seen_reader, self._seen_version = reader, -1
        keep = key_hash in cache.kept
        if keep:
            version = self._db.sqlite_data_version()
            if version != self._seen_version:
                cache.forget_all()
                self._seen_version = version
            elif (kept := cache.kept[key_hash]) is not None:
                return kept
        found = keys_from_rows(reader.execute(self._sqlite_by_hash, (key_hash,)).fetchall())
        if not found:
            cache.kept.pop(key_hash, None)  # unknown hashes are not kept: no memory to fill
            return None
        cache.keep(key_hash, found[0] if keep else None)
        return found[0]

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

    async def search(
        self, *, api_id: str, text: str | None, state: KeyState | None, now: datetime,
        after: str | None, limit: int,
    ) -> list[StoredKey]:
        c = keys.c
        ids = sa.select(c.id).where(c.api_id == api_id).order_by(c.id).limit(limit)
        if text:
            ids = ids.where(sa.or_(c.id == text, c.name.icontains(text, autoescape=True),
                                   c.owner_id.icontains(text, autoescape=True)))
        if state is not None:
            ids = ids.where(_STATE_RULES[state](now))
        if after is not None:
            ids = ids.where(c.id > after)
        page = ids.subquery()
        query = _WITH_ROLES.join(page, page.c.id == keys.c.id).order_by(keys.c.id, key_roles.c.role)
        async with self._db.engine.connect() as conn:
            return keys_from_rows((await conn.execute(query)).all())

    async def insert(self, key: StoredKey, key_hash: bytes, event: AuditEvent) -> None:
        try:
            async with self._db.transaction() as conn:
                await _insert(conn, key, key_hash)
                await audit.record(conn, event)
        except sa.exc.IntegrityError:
            # Its API or one of its roles was deleted between the service's check and this write.
            raise Conflict("the key's API or one of its roles was deleted meanwhile; retry") from None

    async def update(self, key: StoredKey, event: AuditEvent,
                     fields: Collection[str] | None = None) -> StoredKey:
        try:
            async with self._db.transaction() as conn:
                result = await conn.execute(
                    keys.update().where(keys.c.id == key.id)
                    .values(updated_at=key.updated_at,
                            **_config_values(key.config, key.updated_at, fields))
                )
                if result.rowcount == 0:
                    raise NotFound(f"no key {key.id}")
                if fields is None or "roles" in fields:
                    await _set_roles(conn, key)
                await audit.record(conn, event)
                updated = await self._get(conn, key.id)
            self.cache.forget_key(key.id)
            return updated
        except sa.exc.IntegrityError:
            # A role named by the key was deleted between the service's check and this write.
            raise Conflict("a role of this key was deleted meanwhile; retry") from None

    async def revoke(self, key_id: str, at: datetime, event: AuditEvent, *,
                     record_always: bool = False) -> StoredKey:
        async with self._db.transaction() as conn:
            result = await conn.execute(
                keys.update().where(keys.c.id == key_id, keys.c.revoked_at.is_(None))
                .values(revoked_at=at, updated_at=at)
            )
            key = await self._get(conn, key_id)  # NotFound when the id is unknown
            if result.rowcount or record_always:
                await audit.record(conn, event)
        self.cache.forget_key(key_id)
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
            credits = old.config.credits
            if credits is not None and credits.kept_by is None:
                await _move_balance(conn, old, new)
            await audit.record(conn, event)
        self.cache.forget_key(old.id)

    async def delete(self, key_id: str, event: AuditEvent) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(key_roles.delete().where(key_roles.c.key_id == key_id))
            result = await conn.execute(keys.delete().where(keys.c.id == key_id))
            if result.rowcount == 0:
                raise NotFound(f"no key {key_id}")
            await audit.record(conn, event)
        self.cache.forget_key(key_id)
