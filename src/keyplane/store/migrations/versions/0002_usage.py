"""Usage: events, hourly aggregates, credit refills.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keyplane.store.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(40)


def upgrade() -> None:
    with op.batch_alter_table("keys") as batch:
        batch.add_column(sa.Column("credits_refilled_at", UtcDateTime))
    op.create_table(
        "usage_events",
        sa.Column("id", ID, primary_key=True),
        sa.Column("time", UtcDateTime, nullable=False),
        sa.Column("key_id", ID),
        sa.Column("api_id", ID),
        sa.Column("owner_id", sa.String(200)),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("ip", sa.String(64)),
        sa.Column("user_agent", sa.String(512)),
    )
    op.create_index("ix_usage_events_key_id_id", "usage_events", ["key_id", "id"])
    op.create_index("ix_usage_events_time", "usage_events", ["time"])
    op.create_table(
        "usage_hourly",
        sa.Column("key_id", ID, primary_key=True),  # "" for verifications of no known key
        sa.Column("hour", UtcDateTime, primary_key=True),
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("api_id", ID, nullable=False),  # "" when unknown
        sa.Column("owner_id", sa.String(200), nullable=False),  # "" when none
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_usage_hourly_api_id_hour", "usage_hourly", ["api_id", "hour"])
    op.create_index("ix_usage_hourly_owner_id_hour", "usage_hourly", ["owner_id", "hour"])


def downgrade() -> None:
    op.drop_table("usage_hourly")
    op.drop_table("usage_events")
    with op.batch_alter_table("keys") as batch:
        batch.drop_column("credits_refilled_at")
