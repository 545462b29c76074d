"""CodeRepository in SQLAlchemy Core: authorization codes by the hash of the code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from keyplane.audit.events import AuditEvent
from keyplane.ids import new_id
from keyplane.oauth.codes import Issued, StoredCode
from keyplane.oauth.model import Authentication
from keyplane.store import audit
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database
from keyplane.store.tables import (
    as_utc,
    authorization_codes,
    opaque_tokens,
    revocations,
)

_codes = authorization_codes


def _time(value: Any) -> datetime:
    when = as_utc(value)
    assert when is not None
    return when


class SqlCodeRepository:
    def __init__(self, db: Database, *, on_deny_listed: Callable[[], None] | None = None) -> None:
        self._db = db
        # Told after a replayed code's access token joined the deny-list (committed), so
        # this process's introspection sees it at once (SqlTokenRepository.deny_listed).
        self._on_deny_listed = on_deny_listed

    async def insert(self, code_hash: bytes, code: StoredCode, event: AuditEvent) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(_codes.insert().values(
                code_hash=code_hash, client_id=code.client_id, user_id=code.user_id,
                redirect_uri=code.redirect_uri, code_challenge=code.code_challenge,
                scope=" ".join(code.scope), audience=dumps(list(code.audience)),
                created_at=code.created_at, expires_at=code.expires_at, nonce=code.nonce,
                auth_time=code.authentication.auth_time if code.authentication else None,
                sid=code.authentication.sid if code.authentication else None))
            await audit.record(conn, event)

    async def get(self, code_hash: bytes) -> StoredCode | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(_codes).where(_codes.c.code_hash == code_hash))).first()
        if row is None:
            return None
        auth_time = as_utc(row.auth_time)
        return StoredCode(client_id=row.client_id, user_id=row.user_id,
                          redirect_uri=row.redirect_uri, code_challenge=row.code_challenge,
                          scope=tuple(row.scope.split()), audience=tuple(loads(row.audience)),
                          created_at=_time(row.created_at), expires_at=_time(row.expires_at),
                          used_at=as_utc(row.used_at), nonce=row.nonce,
                          authentication=None if auth_time is None or row.sid is None
                          else Authentication(auth_time=auth_time, sid=row.sid))

    async def consume(self, code_hash: bytes, at: datetime) -> bool:
        async with self._db.transaction() as conn:
            # One statement: of two redemptions racing, exactly one sees used_at NULL.
            result = await conn.execute(_codes.update().where(
                _codes.c.code_hash == code_hash, _codes.c.used_at.is_(None)).values(used_at=at))
        return bool(result.rowcount)

    async def record_issued(self, code_hash: bytes, issued: Issued) -> bool:
        async with self._db.transaction() as conn:
            await conn.execute(_codes.update().where(_codes.c.code_hash == code_hash).values(
                access_jti=issued.access_jti, access_expires_at=issued.access_expires_at,
                refresh_family_id=issued.refresh_family_id))
            reused = (await conn.execute(sa.select(_codes.c.reused_at)
                                         .where(_codes.c.code_hash == code_hash))).scalar()
        return reused is not None

    async def revoke_issued(self, code_hash: bytes, at: datetime, event: AuditEvent) -> Issued:
        deny_listed = False
        async with self._db.transaction() as conn:
            await conn.execute(_codes.update().where(_codes.c.code_hash == code_hash)
                               .values(reused_at=sa.func.coalesce(_codes.c.reused_at, at)))
            row = (await conn.execute(sa.select(
                _codes.c.client_id, _codes.c.access_jti, _codes.c.access_expires_at,
                _codes.c.refresh_family_id).where(_codes.c.code_hash == code_hash))).first()
            issued = Issued(access_jti=None, access_expires_at=None, refresh_family_id=None)
            if row is not None:
                issued = Issued(access_jti=row.access_jti, access_expires_at=as_utc(row.access_expires_at),
                                refresh_family_id=row.refresh_family_id)
            if row is not None and issued.access_jti is not None and issued.access_expires_at is not None:
                # Opaque: the row goes. JWT: its jti joins the deny-list (and its feed) until
                # the token would have expired. Only one of the two exists for a jti.
                await conn.execute(opaque_tokens.delete().where(opaque_tokens.c.jti == issued.access_jti))
                if issued.access_expires_at > at:
                    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
                    # Two replays at once both get here: the second insert does nothing.
                    await conn.execute(dialect_insert(revocations).values(
                        id=new_id("rvk", at), jti=issued.access_jti, client_id=row.client_id,
                        expires_at=issued.access_expires_at, revoked_at=at,
                    ).on_conflict_do_nothing(index_elements=[revocations.c.jti]))
                    deny_listed = True
            await audit.record(conn, event)
        if deny_listed and self._on_deny_listed is not None:
            self._on_deny_listed()
        return issued

    async def prune(self, before: datetime) -> int:
        async with self._db.transaction() as conn:
            result = await conn.execute(_codes.delete().where(_codes.c.expires_at <= before))
        return int(result.rowcount)
