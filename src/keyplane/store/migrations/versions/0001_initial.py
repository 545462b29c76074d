"""APIs, roles, keys, key roles, audit events.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keyplane.store.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "keyplane_meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "apis",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_prefix", sa.String(20), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "roles",
        sa.Column("api_id", ID, sa.ForeignKey("apis.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("permissions", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "keys",
        sa.Column("id", ID, primary_key=True),
        sa.Column("api_id", ID, sa.ForeignKey("apis.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(64), nullable=False, unique=True),
        sa.Column("start", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("owner_id", sa.String(200)),
        sa.Column("permissions", sa.Text, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("ratelimits", sa.Text, nullable=False),
        sa.Column("credits_remaining", sa.BigInteger),
        sa.Column("credits_refill", sa.Text),
        sa.Column("ip_allowlist", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("expires_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("last_used_at", UtcDateTime),
        sa.Column("revoked_at", UtcDateTime),
    )
    op.create_index("ix_keys_api_id_id", "keys", ["api_id", "id"])
    op.create_index("ix_keys_api_id_owner_id_id", "keys", ["api_id", "owner_id", "id"])
    op.create_index("ix_keys_owner_id_id", "keys", ["owner_id", "id"])
    op.create_table(
        "key_roles",
        sa.Column("key_id", ID, sa.ForeignKey("keys.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(128), primary_key=True),
        sa.Column("api_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["api_id", "role"], ["roles.api_id", "roles.name"], ondelete="RESTRICT",
            name="fk_key_roles_role_roles",
        ),
    )
    op.create_index("ix_key_roles_api_id_role", "key_roles", ["api_id", "role"])
    op.create_table(
        "audit_events",
        sa.Column("id", ID, primary_key=True),
        sa.Column("time", UtcDateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("ip", sa.String(64)),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_events_actor_id", "audit_events", ["actor", "id"])
    op.create_index("ix_audit_events_target_id", "audit_events", ["target", "id"])
    op.create_index("ix_audit_events_action_id", "audit_events", ["action", "id"])


def downgrade() -> None:
    for table in ("audit_events", "key_roles", "keys", "roles", "apis", "keyplane_meta"):
        op.drop_table(table)
