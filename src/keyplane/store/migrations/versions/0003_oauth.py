"""OAuth: signing keys, clients, client assertions, opaque tokens, revocations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keyplane.store.tables import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False, unique=True),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("public_jwk", sa.Text, nullable=False),
        sa.Column("private_key", sa.Text, nullable=False),  # AES-GCM sealed, never in clear
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("activates_at", UtcDateTime, nullable=False),
        sa.Column("retires_at", UtcDateTime),
        sa.Column("withdrawn_at", UtcDateTime),
    )
    op.create_table(
        "clients",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("grant_types", sa.Text, nullable=False),
        sa.Column("redirect_uris", sa.Text, nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("audiences", sa.Text, nullable=False),
        sa.Column("token_format", sa.String(16), nullable=False),
        sa.Column("auth_method", sa.String(32), nullable=False),
        sa.Column("access_token_ttl_seconds", sa.Integer),
        sa.Column("refresh_token_ttl_seconds", sa.Integer),
        sa.Column("jwks", sa.Text),
        sa.Column("secret_hash", sa.LargeBinary(64)),
        sa.Column("secret_start", sa.String(40)),
        sa.Column("previous_secret_hash", sa.LargeBinary(64)),
        sa.Column("previous_secret_expires_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "client_assertions",
        sa.Column("client_id", ID, primary_key=True),
        sa.Column("jti", sa.String(200), primary_key=True),
        sa.Column("expires_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_client_assertions_expires_at", "client_assertions", ["expires_at"])
    op.create_table(
        "opaque_tokens",
        sa.Column("token_hash", sa.LargeBinary(64), primary_key=True),
        sa.Column("jti", sa.String(64), nullable=False, unique=True),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("audience", sa.Text, nullable=False),  # JSON list
        sa.Column("issued_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_opaque_tokens_expires_at", "opaque_tokens", ["expires_at"])
    op.create_table(
        "revocations",
        sa.Column("id", ID, primary_key=True),  # rvk_..., time-ordered: the feed's cursor
        sa.Column("jti", sa.String(64), nullable=False, unique=True),
        sa.Column("client_id", ID),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("revoked_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_revocations_expires_at", "revocations", ["expires_at"])


def downgrade() -> None:
    for table in ("revocations", "opaque_tokens", "client_assertions", "clients", "signing_keys"):
        op.drop_table(table)
