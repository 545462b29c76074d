"""SigningKeyRepository in SQLAlchemy Core, for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from keyplane.audit.events import AuditEvent
from keyplane.errors import Conflict
from keyplane.oauth.signing_keys import StoredSigningKey
from keyplane.store import audit
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database
from keyplane.store.tables import as_utc, signing_keys

_ALL = sa.select(signing_keys).order_by(signing_keys.c.generation)


def _key(row: Any) -> StoredSigningKey:
    created_at, activates_at = as_utc(row.created_at), as_utc(row.activates_at)
    assert created_at is not None and activates_at is not None
    return StoredSigningKey(
        kid=row.kid, generation=row.generation, alg=row.alg, public_jwk=loads(row.public_jwk),
        sealed_private_key=row.private_key, created_at=created_at, activates_at=activates_at,
        retires_at=as_utc(row.retires_at), withdrawn_at=as_utc(row.withdrawn_at))


class SqlSigningKeyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def all(self) -> list[StoredSigningKey]:
        async with self._db.engine.connect() as conn:
            return [_key(r) for r in (await conn.execute(_ALL)).all()]

    async def insert(self, key: StoredSigningKey, *, retire: Mapping[str, datetime],
                     withdraw: Sequence[str], event: AuditEvent) -> None:
        try:
            async with self._db.transaction() as conn:
                # The insert first: on PostgreSQL a replica inserting the same generation
                # waits here for the winner's commit, then fails, before touching other rows.
                await conn.execute(signing_keys.insert().values(
                    kid=key.kid, generation=key.generation, alg=key.alg,
                    public_jwk=dumps(key.public_jwk), private_key=key.sealed_private_key,
                    created_at=key.created_at, activates_at=key.activates_at,
                    retires_at=key.retires_at, withdrawn_at=key.withdrawn_at))
                for kid, retires_at in retire.items():
                    await conn.execute(signing_keys.update().where(signing_keys.c.kid == kid)
                                       .values(retires_at=retires_at))
                if withdraw:
                    await conn.execute(signing_keys.update().where(
                        signing_keys.c.kid.in_(list(withdraw)), signing_keys.c.withdrawn_at.is_(None),
                    ).values(withdrawn_at=key.created_at))
                await audit.record(conn, event)
        except sa.exc.IntegrityError:
            raise Conflict(f"signing key generation {key.generation} exists already") from None
