"""Usage events without an index on `time`: every verification writes a row, and each index
is one more B-tree insert a row. The retention prune, the one reader by time alone, goes by
id instead (ids begin with their event's millisecond, ids.py); readers of one key's events
keep `(key_id, id)`.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_usage_events_time", table_name="usage_events")


def downgrade() -> None:
    op.create_index("ix_usage_events_time", "usage_events", ["time"])
