"""Hourly usage counted per API too: its primary key gains api_id.

Verifications of no known key are counted under key_id "" and the API they were verified
for; with (key_id, hour, code) as the key, two APIs' unknown keys in the same hour were
merged into one row, counted under whichever API came first. The table is rebuilt with
(key_id, api_id, hour, code) as its key (a new primary key needs a new table on SQLite);
every row is kept as it is.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keyplane.store.tables import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.String(40)
COLUMNS = "key_id, api_id, hour, code, owner_id, count"


def _rebuild(key: list[str], copy: str) -> None:
    op.create_table(
        "usage_hourly_next",
        sa.Column("key_id", ID, nullable=False),  # "" for verifications of no known key
        sa.Column("api_id", ID, nullable=False),  # "" when unknown
        sa.Column("hour", UtcDateTime, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.String(200), nullable=False),  # "" when none
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(*key, name="pk_usage_hourly_next"),
    )
    op.execute(f"INSERT INTO usage_hourly_next ({COLUMNS}) {copy}")
    op.drop_table("usage_hourly")  # its indexes and primary key go with it
    op.rename_table("usage_hourly_next", "usage_hourly")
    if op.get_bind().dialect.name == "postgresql":  # constraint names are per schema there
        op.execute("ALTER TABLE usage_hourly RENAME CONSTRAINT pk_usage_hourly_next TO pk_usage_hourly")
    op.create_index("ix_usage_hourly_api_id_hour", "usage_hourly", ["api_id", "hour"])
    op.create_index("ix_usage_hourly_owner_id_hour", "usage_hourly", ["owner_id", "hour"])


def upgrade() -> None:
    _rebuild(["key_id", "api_id", "hour", "code"], f"SELECT {COLUMNS} FROM usage_hourly")


def downgrade() -> None:
    # Back to one row per (key_id, hour, code): the API split of unknown keys is summed away.
    _rebuild(["key_id", "hour", "code"],
             "SELECT key_id, MIN(api_id), hour, code, MIN(owner_id), SUM(count) FROM usage_hourly "
             "GROUP BY key_id, hour, code")
