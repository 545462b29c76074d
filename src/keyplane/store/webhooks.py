"""WebhookRepository in SQLAlchemy Core; every change audited in its own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from keyplane.audit.events import AuditEvent
from keyplane.errors import NotFound
from keyplane.store import audit
from keyplane.store.codec import dumps, loads
from keyplane.store.engine import Database
from keyplane.store.tables import as_utc, webhooks
from keyplane.webhooks.model import SealedSecrets, Webhook


def _webhook(row: Any) -> Webhook:
    return Webhook(id=row.id, url=row.url, events=tuple(loads(row.events)),
                   description=row.description, created_at=as_utc(row.created_at),  # type: ignore[arg-type]
                   updated_at=as_utc(row.updated_at),  # type: ignore[arg-type]
                   previous_secret_expires_at=as_utc(row.previous_secret_expires_at))


class SqlWebhookRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, webhook: Webhook, secret: bytes, event: AuditEvent) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(webhooks.insert().values(
                id=webhook.id, url=webhook.url, events=dumps(list(webhook.events)),
                description=webhook.description, secret=secret, created_at=webhook.created_at,
                updated_at=webhook.updated_at))
            await audit.record(conn, event)

    async def get(self, webhook_id: str) -> Webhook | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(sa.select(webhooks).where(webhooks.c.id == webhook_id))).first()
        return None if row is None else _webhook(row)

    async def page(self, *, after: str | None, limit: int) -> list[Webhook]:
        query = sa.select(webhooks).order_by(webhooks.c.id).limit(limit)
        if after is not None:
            query = query.where(webhooks.c.id > after)
        async with self._db.engine.connect() as conn:
            return [_webhook(r) for r in (await conn.execute(query)).all()]

    async def update(self, webhook: Webhook, event: AuditEvent) -> Webhook:
        async with self._db.transaction() as conn:
            row = (await conn.execute(
                webhooks.update().where(webhooks.c.id == webhook.id)
                .values(url=webhook.url, events=dumps(list(webhook.events)),
                        description=webhook.description, updated_at=webhook.updated_at)
                .returning(webhooks))).first()
            if row is None:
                raise NotFound(f"no webhook {webhook.id}")
            await audit.record(conn, event)
        return _webhook(row)

    async def delete(self, webhook_id: str, event: AuditEvent) -> None:
        async with self._db.transaction() as conn:
            # Its deliveries go with it (ON DELETE CASCADE; SQLite enforces foreign keys).
            result = await conn.execute(webhooks.delete().where(webhooks.c.id == webhook_id))
            if not result.rowcount:
                raise NotFound(f"no webhook {webhook_id}")
            await audit.record(conn, event)

    async def roll_secret(self, webhook_id: str, secret: bytes, *, previous_expires_at: datetime,
                          event: AuditEvent, at: datetime) -> Webhook:
        c = webhooks.c
        async with self._db.transaction() as conn:
            row = (await conn.execute(
                webhooks.update().where(c.id == webhook_id)
                .values(previous_secret=c.secret, secret=secret,
                        previous_secret_expires_at=previous_expires_at, updated_at=at)
                .returning(webhooks))).first()
            if row is None:
                raise NotFound(f"no webhook {webhook_id}")
            await audit.record(conn, event)
        return _webhook(row)

    async def sealed_secrets(self, webhook_id: str) -> SealedSecrets | None:
        c = webhooks.c
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(
                sa.select(c.url, c.secret, c.previous_secret, c.previous_secret_expires_at)
                .where(c.id == webhook_id))).first()
        if row is None:
            return None
        return SealedSecrets(url=row.url, secret=bytes(row.secret),
                             previous=None if row.previous_secret is None else bytes(row.previous_secret),
                             previous_expires_at=as_utc(row.previous_secret_expires_at))
