"""Small named values the service keeps about itself (e.g. the pepper fingerprint)."""

from __future__ import annotations

import sqlalchemy as sa

from keyplane.store.engine import Database
from keyplane.store.tables import meta


class SqlMeta:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, name: str) -> str | None:
        async with self._db.engine.connect() as conn:
            return (await conn.execute(sa.select(meta.c.value).where(meta.c.name == name))).scalar()

    async def set_default(self, name: str, value: str) -> str:
        """Store `value` unless `name` has one already; return the stored value."""
        try:
            async with self._db.transaction() as conn:
                current = (await conn.execute(
                    sa.select(meta.c.value).where(meta.c.name == name))).scalar()
                if current is None:
                    await conn.execute(meta.insert().values(name=name, value=value))
                    return value
                return str(current)
        except sa.exc.IntegrityError:  # another replica stored it first: theirs stands
            stored = await self.get(name)
            assert stored is not None
            return stored
