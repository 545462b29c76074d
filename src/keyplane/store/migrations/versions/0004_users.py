"""Users, their roles, consents, browser sessions, authorization codes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keyplane.store.tables import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", ID, primary_key=True),
        sa.Column("username", sa.String(200), nullable=False),
        sa.Column("username_key", sa.String(200), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("last_login_at", UtcDateTime),
    )
    op.create_table(
        "scope_roles",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(128), sa.ForeignKey("scope_roles.name", ondelete="RESTRICT"),
                  primary_key=True),
    )
    op.create_index("ix_user_roles_role", "user_roles", ["role"])
    op.create_table(
        "consents",
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("client_id", ID, sa.ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("granted_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_consents_client_id", "consents", ["client_id"])
    op.create_table(
        "browser_sessions",
        sa.Column("id_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("last_seen_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("ip", sa.String(64)),
    )
    op.create_index("ix_browser_sessions_user_id", "browser_sessions", ["user_id"])
    op.create_index("ix_browser_sessions_expires_at", "browser_sessions", ["expires_at"])
    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("code_challenge", sa.String(128)),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("audience", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("used_at", UtcDateTime),
        sa.Column("reused_at", UtcDateTime),
        sa.Column("access_jti", sa.String(64)),
        sa.Column("access_expires_at", UtcDateTime),
        sa.Column("refresh_family_id", sa.String(64)),
    )
    op.create_index("ix_authorization_codes_expires_at", "authorization_codes", ["expires_at"])


def downgrade() -> None:
    for table in ("authorization_codes", "browser_sessions", "consents", "user_roles",
                  "scope_roles", "users"):
        op.drop_table(table)
