"""Client-wide revocations: a deny-list row with a client and no `jti`.

Deleting a client revokes every access token it was issued at or before the deletion:
`revocations` gets a row with its `client_id` and `jti` NULL, kept until the last such
token would have expired. `jti` becomes nullable (on SQLite a new column constraint needs
a new table: it is rebuilt, every row kept as it is), and an index on (client_id, jti,
revoked_at) finds a token's client-wide row in one seek on both databases (`jti IS NULL`
is an equality for the index). Downgrading forgets the client-wide rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keyplane.store.tables import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.String(40)
COLUMNS = "id, jti, client_id, expires_at, revoked_at"
CLIENT_INDEX = "ix_revocations_client_id_jti_revoked_at"


def _rebuild_on_sqlite(*, jti_nullable: bool) -> None:
    op.create_table(
        "revocations_next",
        sa.Column("id", ID, nullable=False),  # rvk_..., time-ordered: the feed's cursor
        sa.Column("jti", sa.String(64), nullable=jti_nullable),
        sa.Column("client_id", ID),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("revoked_at", UtcDateTime, nullable=False),
        # Named as the table they replace: SQLite's constraint names are the table's own.
        sa.PrimaryKeyConstraint("id", name="pk_revocations"),
        sa.UniqueConstraint("jti", name="uq_revocations_jti"),
    )
    op.execute(f"INSERT INTO revocations_next ({COLUMNS}) SELECT {COLUMNS} FROM revocations")
    op.drop_table("revocations")  # its indexes go with it
    op.rename_table("revocations_next", "revocations")
    op.create_index("ix_revocations_expires_at", "revocations", ["expires_at"])


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite(jti_nullable=True)
    else:
        op.alter_column("revocations", "jti", existing_type=sa.String(64), nullable=True)
    op.create_index(CLIENT_INDEX, "revocations", ["client_id", "jti", "revoked_at"])


def downgrade() -> None:
    op.drop_index(CLIENT_INDEX, "revocations")
    op.execute("DELETE FROM revocations WHERE jti IS NULL")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_on_sqlite(jti_nullable=False)
    else:
        op.alter_column("revocations", "jti", existing_type=sa.String(64), nullable=False)
