"""Verifications of all keys counted by hour and outcome in a table of their own, and the
hourly counts indexed by hour.

The dashboard's overview (and `GET /v1/usage` without a key, API or owner) charts every
verification of the last 30 days: summed from `usage_hourly` that is a scan of one row a
key, hour and outcome (~400k rows for 10,000 keys and a million verifications, ~1 s on
SQLite); `usage_totals` holds one row an hour and outcome (≤ 720 × the outcomes seen),
kept by the same flush that writes `usage_hourly`. Filled here from `usage_hourly`. The
index on `usage_hourly.hour` serves "the keys verified most since", which reads a day of
rows, not all of them.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keyplane.store.tables import UtcDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_totals",
        sa.Column("hour", UtcDateTime, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("hour", "code", name="pk_usage_totals"),
    )
    op.execute("INSERT INTO usage_totals (hour, code, count) "
               "SELECT hour, code, SUM(count) FROM usage_hourly GROUP BY hour, code")
    op.create_index("ix_usage_hourly_hour", "usage_hourly", ["hour"])


def downgrade() -> None:
    op.drop_index("ix_usage_hourly_hour", table_name="usage_hourly")
    op.drop_table("usage_totals")
