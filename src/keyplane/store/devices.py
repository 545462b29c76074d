"""DeviceRepository in SQLAlchemy Core: RFC 8628 device authorizations."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from keyplane.oauth.device import DeviceGrant, Status
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database
from keyplane.store.tables import as_utc, device_authorizations

_t = device_authorizations
_DAY = timedelta(days=1)
_SELECT = sa.select(_t.c.id, _t.c.client_id, _t.c.scope, _t.c.audience, _t.c.created_at,
                    _t.c.expires_at, _t.c.interval_seconds, _t.c.last_polled_at, _t.c.status,
                    _t.c.subject, _t.c.granted_scope)


def _grant(row: Any) -> DeviceGrant:
    created_at, expires_at = as_utc(row[4]), as_utc(row[5])
    assert created_at is not None and expires_at is not None
    return DeviceGrant(id=row[0], client_id=row[1], scope=tuple(row[2].split()),
                       audience=tuple(loads(row[3])), created_at=created_at, expires_at=expires_at,
                       interval_seconds=row[6], last_polled_at=as_utc(row[7]), status=row[8],
                       subject=row[9],
                       granted_scope=None if row[10] is None else tuple(row[10].split()))


class SqlDeviceRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, grant: DeviceGrant, device_code_hash: bytes, user_code_hash: bytes) -> bool:
        try:
            async with self._db.transaction() as conn:
                await conn.execute(_t.insert().values(
                    id=grant.id, device_code_hash=device_code_hash, user_code_hash=user_code_hash,
                    client_id=grant.client_id, scope=" ".join(grant.scope),
                    audience=dumps(list(grant.audience)), created_at=grant.created_at,
                    expires_at=grant.expires_at, interval_seconds=grant.interval_seconds,
                    status=grant.status))
        except sa.exc.IntegrityError:
            return False
        return True

    async def _one(self, condition: Any) -> DeviceGrant | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(_SELECT.where(condition))).first()
        return None if row is None else _grant(row)

    async def by_device_code(self, device_code_hash: bytes) -> DeviceGrant | None:
        return await self._one(_t.c.device_code_hash == device_code_hash)

    async def by_user_code(self, user_code_hash: bytes) -> DeviceGrant | None:
        return await self._one(_t.c.user_code_hash == user_code_hash)

    async def get(self, grant_id: str) -> DeviceGrant | None:
        return await self._one(_t.c.id == grant_id)

    async def polled(self, grant_id: str, *, at: datetime, interval_seconds: int) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(_t.update().where(_t.c.id == grant_id)
                               .values(last_polled_at=at, interval_seconds=interval_seconds))

    async def decide(self, grant_id: str, *, status: Status, subject: str,
                     granted_scope: tuple[str, ...], at: datetime) -> bool:
        async with self._db.transaction() as conn:
            result = await conn.execute(
                _t.update().where(_t.c.id == grant_id, _t.c.status == "pending", _t.c.expires_at > at)
                .values(status=status, subject=subject, granted_scope=" ".join(granted_scope),
                        decided_at=at))
        return bool(result.rowcount == 1)

    async def consume(self, grant_id: str) -> bool:
        async with self._db.transaction() as conn:
            result = await conn.execute(
                _t.update().where(_t.c.id == grant_id, _t.c.status == "approved")
                .values(status="consumed"))
        return bool(result.rowcount == 1)

    async def prune(self, now: datetime) -> int:
        """Forget authorizations expired a day ago (kept a while so a late poll reads
        expired_token rather than an unknown code)."""
        async with self._db.transaction() as conn:
            result = await conn.execute(
                _t.delete().where(_t.c.expires_at <= now - _DAY))
        return int(result.rowcount)

