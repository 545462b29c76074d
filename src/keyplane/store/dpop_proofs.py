"""The DPoP proofs seen (RFC 9449 §11.1), when there is no Redis: a row per proof until it
is too old to be accepted anyway, so every worker sharing the database refuses a replay."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from keyplane.store.engine import Database
from keyplane.store.tables import dpop_proofs


class SqlProofReplayCache:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def first_use(self, key: bytes, expires_at: datetime, now: datetime) -> bool:
        """Records `key` until `expires_at`; False when it is recorded and unexpired."""
        insert = pg_insert if not self._db.is_sqlite else sqlite_insert
        values = insert(dpop_proofs).values(proof_hash=key, expires_at=expires_at)
        # One atomic statement, as client assertions' `jti`s (store/clients.py): a row comes
        # back for a new proof or one whose record expired, none for a replay.
        statement = values.on_conflict_do_update(
            index_elements=[dpop_proofs.c.proof_hash],
            set_={"expires_at": values.excluded.expires_at},
            where=dpop_proofs.c.expires_at <= now,
        ).returning(dpop_proofs.c.proof_hash)
        async with self._db.transaction() as conn:
            return (await conn.execute(statement)).first() is not None

    async def prune(self, now: datetime) -> int:
        async with self._db.transaction() as conn:
            result = await conn.execute(dpop_proofs.delete().where(dpop_proofs.c.expires_at <= now))
        return int(result.rowcount)

    async def close(self) -> None:
        pass  # the database is closed with the services
