"""Security alerts, webhooks with their durable outbox, leak reports, API rotation policy.

`alerts` has a partial unique index on (type, subject_kind, subject_id) over the alerts
not resolved: every worker and replica upserts against it, so one alert per type and
subject is open at a time. `webhook_events` and `webhook_deliveries` are the outbox the
delivery worker claims rows from. `apis.rotation_days` is the optional rotation policy.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keyplane.store.tables import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ID = sa.String(40)
ACTIVE = sa.text("state != 'resolved'")


def upgrade() -> None:
    op.add_column("apis", sa.Column("rotation_days", sa.Integer))
    op.create_table(
        "alerts",
        sa.Column("id", ID, primary_key=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("subject_kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(200), nullable=False),
        sa.Column("api_id", ID),
        sa.Column("first_seen", UtcDateTime, nullable=False),
        sa.Column("last_seen", UtcDateTime, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("uq_alerts_active", "alerts", ["type", "subject_kind", "subject_id"],
                    unique=True, sqlite_where=ACTIVE, postgresql_where=ACTIVE)
    op.create_index("ix_alerts_type_id", "alerts", ["type", "id"])
    op.create_index("ix_alerts_state_id", "alerts", ["state", "id"])
    op.create_table(
        "webhooks",
        sa.Column("id", ID, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("previous_secret", sa.LargeBinary),
        sa.Column("previous_secret_expires_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", ID, primary_key=True),
        sa.Column("type", sa.String(80), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_webhook_events_created_at", "webhook_events", ["created_at"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", ID, primary_key=True),
        sa.Column("webhook_id", ID, sa.ForeignKey("webhooks.id", ondelete="CASCADE",
                                                  name="fk_webhook_deliveries_webhook_id_webhooks"),
                  nullable=False),
        sa.Column("event_id", ID, sa.ForeignKey("webhook_events.id", ondelete="CASCADE",
                                                name="fk_webhook_deliveries_event_id_webhook_events"),
                  nullable=False),
        sa.Column("event_type", sa.String(80), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime),
        sa.Column("claimed_until", UtcDateTime),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("delivered_at", UtcDateTime),
    )
    op.create_index("ix_webhook_deliveries_state_next_attempt_at", "webhook_deliveries",
                    ["state", "next_attempt_at"])
    op.create_index("ix_webhook_deliveries_webhook_id_id", "webhook_deliveries", ["webhook_id", "id"])
    op.create_table(
        "leak_reports",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("token_type", sa.String(40), nullable=False),
        sa.Column("label", sa.String(20), nullable=False),
        sa.Column("key_id", ID),
        sa.Column("url", sa.Text),
        sa.Column("reported_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leak_reports")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_events")
    op.drop_table("webhooks")
    op.drop_table("alerts")
    # Plain ALTER TABLE on both (SQLite 3.35+): a batch rebuild of `apis` would cascade
    # the deletion of its old table to every key.
    op.execute("ALTER TABLE apis DROP COLUMN rotation_days")
