"""Pushed authorization requests (oauth/par.py), by the keyed hash of their `request_uri`."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from keyplane.oauth.par import Pairs
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database
from keyplane.store.tables import pushed_requests


class SqlPushedRequestRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, request_hash: bytes, client_id: str, params: Pairs,
                     expires_at: datetime) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(pushed_requests.insert().values(
                request_hash=request_hash, client_id=client_id,
                params=dumps([list(p) for p in params]), expires_at=expires_at))

    async def start(self, request_hash: bytes, client_id: str, now: datetime,
                    flow_expires_at: datetime) -> Pairs | None:
        mine = sa.and_(pushed_requests.c.request_hash == request_hash,
                       pushed_requests.c.client_id == client_id,
                       pushed_requests.c.expires_at > now)
        async with self._db.transaction() as conn:
            await conn.execute(pushed_requests.update().where(
                mine, pushed_requests.c.started_at.is_(None)).values(
                started_at=now, expires_at=flow_expires_at))
            row = (await conn.execute(sa.select(pushed_requests.c.params).where(
                pushed_requests.c.request_hash == request_hash,
                pushed_requests.c.client_id == client_id,
                pushed_requests.c.expires_at > now))).first()
        if row is None:
            return None
        return [(str(name), str(value)) for name, value in loads(row.params)]

    async def consume(self, request_hash: bytes, now: datetime) -> bool:
        async with self._db.transaction() as conn:
            result = await conn.execute(pushed_requests.delete().where(
                pushed_requests.c.request_hash == request_hash, pushed_requests.c.expires_at > now))
        return bool(result.rowcount)

    async def prune(self, now: datetime) -> int:
        async with self._db.transaction() as conn:
            result = await conn.execute(pushed_requests.delete().where(
                pushed_requests.c.expires_at <= now))
        return int(result.rowcount)
