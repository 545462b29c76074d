"""Refresh-token families and tokens, device authorizations, clients' idle lifetime.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keyplane.store.tables import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.String(40)


def upgrade() -> None:
    op.add_column("clients", sa.Column("refresh_token_idle_seconds", sa.Integer))
    op.create_table(
        "refresh_families",
        sa.Column("id", ID, primary_key=True),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("audience", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("rotated_at", UtcDateTime),
        sa.Column("revoked_at", UtcDateTime),
        sa.Column("revoke_reason", sa.String(32)),
    )
    op.create_index("ix_refresh_families_client_id", "refresh_families", ["client_id"])
    op.create_index("ix_refresh_families_subject", "refresh_families", ["subject"])
    op.create_index("ix_refresh_families_expires_at", "refresh_families", ["expires_at"])
    op.create_table(
        "refresh_tokens",
        sa.Column("id", ID, primary_key=True),
        sa.Column("token_hash", sa.LargeBinary(64), nullable=False, unique=True),
        sa.Column("family_id", ID, sa.ForeignKey("refresh_families.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("issued_at", UtcDateTime, nullable=False),
        sa.Column("idle_expires_at", UtcDateTime, nullable=False),
        sa.Column("used_at", UtcDateTime),
        sa.Column("access_jti", sa.String(64)),
        sa.Column("access_expires_at", UtcDateTime),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_table(
        "device_authorizations",
        sa.Column("id", ID, primary_key=True),
        sa.Column("device_code_hash", sa.LargeBinary(64), nullable=False, unique=True),
        sa.Column("user_code_hash", sa.LargeBinary(64), nullable=False, unique=True),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("audience", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("interval_seconds", sa.Integer, nullable=False),
        sa.Column("last_polled_at", UtcDateTime),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(200)),
        sa.Column("granted_scope", sa.Text),
        sa.Column("decided_at", UtcDateTime),
    )
    op.create_index("ix_device_authorizations_expires_at", "device_authorizations", ["expires_at"])


def downgrade() -> None:
    for table in ("device_authorizations", "refresh_tokens", "refresh_families"):
        op.drop_table(table)
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("refresh_token_idle_seconds")
