"""ClientRepository in SQLAlchemy Core: OAuth clients, and the `jti`s of their assertions.
Deleting a client ends its tokens in the same transaction (its deny-list entry is read by
store/tokens.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from keyplane.audit.events import AuditEvent
from keyplane.errors import Conflict, NotFound
from keyplane.ids import new_id
from keyplane.oauth.clients import SECRET_METHODS, ClientCredentials
from keyplane.oauth.model import Client
from keyplane.store import audit
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database
from keyplane.store.tables import (
    as_utc,
    client_assertions,
    clients,
    opaque_tokens,
    refresh_families,
    refresh_tokens,
    revocations,
)

_COLUMNS = (
    clients.c.id, clients.c.name, clients.c.type, clients.c.grant_types,
    clients.c.redirect_uris, clients.c.scopes, clients.c.audiences, clients.c.token_format,
    clients.c.auth_method, clients.c.access_token_ttl_seconds,
    clients.c.refresh_token_ttl_seconds, clients.c.jwks, clients.c.secret_start,
    clients.c.created_at, clients.c.updated_at, clients.c.refresh_token_idle_seconds,
    clients.c.pkce_required,
    clients.c.dpop_bound_access_tokens, clients.c.require_pushed_authorization_requests,
    clients.c.post_logout_redirect_uris,
)
_SECRETS = (clients.c.secret_hash, clients.c.previous_secret_hash,
            clients.c.previous_secret_expires_at)
_SELECT = sa.select(*_COLUMNS)
_CREDENTIALS = sa.select(*_COLUMNS, *_SECRETS).where(clients.c.id == sa.bindparam("client_id"))
# Where each column sits in a row of _CREDENTIALS (and so of _SELECT): rows are read by
# column name through this map, so a new column cannot shift the others silently. Raw
# sqlite3 rows are plain tuples, hence positions rather than Row attributes.
_AT = {column.name: i for i, column in enumerate((*_COLUMNS, *_SECRETS))}


def _client(row: Sequence[Any]) -> Client:
    """A row of `_COLUMNS` (from SQLAlchemy, or raw sqlite3 with times as text)."""
    def col(name: str) -> Any:
        return row[_AT[name]]

    created_at, updated_at = as_utc(col("created_at")), as_utc(col("updated_at"))
    assert created_at is not None and updated_at is not None
    jwks = col("jwks")
    return Client(
        id=col("id"), name=col("name"), type=col("type"), grant_types=tuple(loads(col("grant_types"))),
        redirect_uris=tuple(loads(col("redirect_uris"))), scopes=tuple(loads(col("scopes"))),
        audiences=tuple(loads(col("audiences"))), token_format=col("token_format"),
        auth_method=col("auth_method"),
        access_token_ttl_seconds=col("access_token_ttl_seconds"),
        refresh_token_ttl_seconds=col("refresh_token_ttl_seconds"),
        jwks=None if jwks is None else loads(jwks), secret_start=col("secret_start"),
        created_at=created_at, updated_at=updated_at,
        refresh_token_idle_seconds=col("refresh_token_idle_seconds"),
        pkce_required=bool(col("pkce_required")),
        dpop_bound_access_tokens=bool(col("dpop_bound_access_tokens")),
        require_pushed_authorization_requests=bool(col("require_pushed_authorization_requests")),
        post_logout_redirect_uris=tuple(loads(col("post_logout_redirect_uris"))),
    )


def _credentials(row: Sequence[Any]) -> ClientCredentials:
    return ClientCredentials(client=_client(row), secret_hash=_bytes(row[_AT["secret_hash"]]),
                             previous_secret_hash=_bytes(row[_AT["previous_secret_hash"]]),
                             previous_secret_expires_at=as_utc(row[_AT["previous_secret_expires_at"]]))


def _bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)  # asyncpg and sqlite3 may hand back views


def _settings(client: Client) -> dict[str, Any]:
    return {
        "name": client.name, "type": client.type,
        "grant_types": dumps(list(client.grant_types)),
        "redirect_uris": dumps(list(client.redirect_uris)), "scopes": dumps(list(client.scopes)),
        "audiences": dumps(list(client.audiences)), "token_format": client.token_format,
        "auth_method": client.auth_method,
        "access_token_ttl_seconds": client.access_token_ttl_seconds,
        "refresh_token_ttl_seconds": client.refresh_token_ttl_seconds,
        "refresh_token_idle_seconds": client.refresh_token_idle_seconds,
        "pkce_required": client.pkce_required,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "post_logout_redirect_uris": dumps(list(client.post_logout_redirect_uris)),
        "jwks": None if client.jwks is None else dumps(client.jwks),
        "updated_at": client.updated_at,
    }


async def _get(conn: AsyncConnection, client_id: str) -> Client:
    row = (await conn.execute(_SELECT.where(clients.c.id == client_id))).first()
    if row is None:
        raise NotFound(f"no client {client_id}")
    return _client(row)


_KEPT_CLIENTS = 1_000


class SqlClientRepository:
    def __init__(self, db: Database, *, on_revoked: Callable[[], None] | None = None) -> None:
        self._db = db
        # Told when a deletion deny-lists a client's tokens (the introspection memo of
        # tokens found not revoked, store/tokens.py, must forget them at once).
        self._on_revoked = on_revoked
        if db.is_sqlite:
            self._sqlite_credentials = str(_CREDENTIALS.compile(dialect=db.engine.dialect))
        # SQLite: per client id, what `credentials` read and decoded, as of
        # `PRAGMA data_version` `_seen_version` of the hot connection. That version moves
        # whenever another connection commits (a client changed by the API, in this process
        # or another worker; the audit writer too), and then everything is read afresh: an
        # exact cache, as for keys (store/keys.py). A hit costs the pragma (~2.5 µs) instead
        # of the read (~20 µs under load: every commit elsewhere empties the page cache).
        # On PostgreSQL the same, kept while PostgreSQL tells this process of every client
        # change (store/change_notices.py), not when a notice crossed the read (`_generation`).
        self._kept: dict[str, ClientCredentials] = {}
        self._seen_reader: object | None = None
        self._seen_version = -1
        self._listening = False
        self._generation = 0

    def notice(self, payload: str) -> None:
        """PostgreSQL told of a change; `client:<id>` is a client's."""
        if payload.startswith("client:"):
            self._forget(payload.removeprefix("client:"))

    def set_listening(self, listening: bool) -> None:
        self._generation += 1
        self._kept.clear()
        self._listening = listening

    def _forget(self, client_id: str) -> None:
        self._generation += 1
        self._kept.pop(client_id, None)

    async def insert(self, client: Client, secret_hash: bytes | None, event: AuditEvent) -> None:
        try:
            async with self._db.transaction() as conn:
                await conn.execute(clients.insert().values(
                    id=client.id, secret_hash=secret_hash, secret_start=client.secret_start,
                    created_at=client.created_at, **_settings(client)))
                await audit.record(conn, event)
        except sa.exc.IntegrityError:
            raise Conflict(f"client {client.id} exists already") from None

    async def get(self, client_id: str) -> Client:
        async with self._db.engine.connect() as conn:
            return await _get(conn, client_id)

    async def credentials(self, client_id: str) -> ClientCredentials | None:
        if self._db.is_sqlite:
            # The token endpoint's lookup: on the hot connection, as the key lookup is (a
            # primary-key read costs less than a hop to a driver thread). The version is read
            # before the row: a commit after it moves the version, so the row read is then
            # never trusted again.
            reader = self._db.sqlite_reader()
            version = self._db.sqlite_data_version()
            if version != self._seen_version or reader is not self._seen_reader:
                self._kept.clear()
                self._seen_reader, self._seen_version = reader, version
            elif (kept := self._kept.get(client_id)) is not None:
                return kept
            rows = reader.execute(self._sqlite_credentials, (client_id,)).fetchall()
            if not rows:
                return None  # unknown ids are not kept: no memory for strangers to fill
            found = _credentials(rows[0])
            self._keep(client_id, found)
            return found
        if self._listening and (kept := self._kept.get(client_id)) is not None:
            return kept
        generation = self._generation
        async with self._db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            pg_row = (await conn.execute(_CREDENTIALS, {"client_id": client_id})).first()
        if pg_row is None:
            return None
        found = _credentials(pg_row)
        if self._listening and generation == self._generation:
            self._keep(client_id, found)
        return found

    def _keep(self, client_id: str, found: ClientCredentials) -> None:
        if len(self._kept) >= _KEPT_CLIENTS:
            del self._kept[next(iter(self._kept))]  # the oldest
        self._kept[client_id] = found

    async def page(self, *, after: str | None, limit: int) -> list[Client]:
        query = _SELECT.order_by(clients.c.id).limit(limit)
        if after is not None:
            query = query.where(clients.c.id > after)
        async with self._db.engine.connect() as conn:
            return [_client(r) for r in (await conn.execute(query)).all()]

    async def update(self, client: Client, event: AuditEvent, *, clear_secret: bool) -> Client:
        values = _settings(client)
        if clear_secret:
            values.update(secret_hash=None, secret_start=None, previous_secret_hash=None,
                          previous_secret_expires_at=None)
        async with self._db.transaction() as conn:
            result = await conn.execute(clients.update().where(clients.c.id == client.id).values(**values))
            if result.rowcount == 0:
                raise NotFound(f"no client {client.id}")
            await audit.record(conn, event)
            updated = await _get(conn, client.id)
        self._forget(client.id)
        return updated

    async def roll_secret(self, client_id: str, secret_hash: bytes, secret_start: str,
                          previous_expires_at: datetime | None, at: datetime,
                          event: AuditEvent) -> Client:
        async with self._db.transaction() as conn:
            # One statement: SET reads the row as it was, so the current hash becomes the
            # previous one even when two rolls race (each keeps the one it replaced).
            result = await conn.execute(
                clients.update()
                .where(clients.c.id == client_id, clients.c.auth_method.in_(SECRET_METHODS))
                .values(secret_hash=secret_hash, secret_start=secret_start, updated_at=at,
                        previous_secret_hash=clients.c.secret_hash if previous_expires_at else None,
                        previous_secret_expires_at=previous_expires_at))
            if result.rowcount == 0:
                current = await _get(conn, client_id)  # NotFound when it was deleted
                raise Conflict(f"client {client_id} now authenticates with {current.auth_method}")
            await audit.record(conn, event)
            rolled = await _get(conn, client_id)
        self._forget(client_id)
        return rolled

    async def delete(self, client_id: str, event: AuditEvent, *, revoked_until: datetime,
                     tokens_expire_by: datetime) -> None:
        async with self._db.transaction() as conn:
            result = await conn.execute(clients.delete().where(clients.c.id == client_id))
            if result.rowcount == 0:
                raise NotFound(f"no client {client_id}")
            await conn.execute(client_assertions.delete().where(client_assertions.c.client_id == client_id))
            # Every token it holds dies with it. Opaque and refresh tokens are deleted (the
            # refresh tokens before their families: SQLite enforces no foreign keys here).
            await conn.execute(opaque_tokens.delete().where(opaque_tokens.c.client_id == client_id))
            families = sa.select(refresh_families.c.id).where(refresh_families.c.client_id == client_id)
            await conn.execute(refresh_tokens.delete().where(refresh_tokens.c.family_id.in_(families)))
            await conn.execute(refresh_families.delete().where(refresh_families.c.client_id == client_id))
            # JWTs cannot be recalled: one deny-list entry for the whole client (no `jti`)
            # covers every token issued at or before `revoked_until` (a little after now:
            # requests in flight), until the last could expire. Opaque tokens stored by a
            # request in flight after this transaction are caught by it too.
            await conn.execute(revocations.insert().values(
                id=new_id("rvk", event.time), jti=None, client_id=client_id,
                expires_at=tokens_expire_by, revoked_at=revoked_until))
            await audit.record(conn, event)
        self._forget(client_id)
        if self._on_revoked is not None:
            self._on_revoked()

    async def use_jti(self, client_id: str, jti: str, expires_at: datetime, now: datetime) -> bool:
        insert = pg_insert if not self._db.is_sqlite else sqlite_insert
        values = insert(client_assertions).values(client_id=client_id, jti=jti, expires_at=expires_at)
        # One atomic statement on both databases: a new jti is inserted; a known one is taken
        # over only when its record has expired. A row comes back in either case, none for a
        # replay — and two concurrent uses of one jti cannot both get a row.
        statement = values.on_conflict_do_update(
            index_elements=[client_assertions.c.client_id, client_assertions.c.jti],
            set_={"expires_at": values.excluded.expires_at},
            where=client_assertions.c.expires_at <= now,
        ).returning(client_assertions.c.jti)
        async with self._db.transaction() as conn:
            return (await conn.execute(statement)).first() is not None

    async def prune_assertions(self, now: datetime) -> int:
        async with self._db.transaction() as conn:
            result = await conn.execute(client_assertions.delete().where(client_assertions.c.expires_at <= now))
            return int(result.rowcount)
