"""DPoP, encrypted tokens and pushed authorization requests: clients' `dpop_bound_access_tokens`
and `require_pushed_authorization_requests` (RFC 9449 §5.2, RFC 9126 §6), the DPoP proofs
seen (the `jti` replay cache when there is no Redis), the key a refresh-token family is
bound to, the extra claims of opaque tokens (`act`, `cnf`), resource servers with their
encryption keys, and pushed authorization requests.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keyplane.store.tables import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ID = sa.String(40)


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("dpop_bound_access_tokens", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("require_pushed_authorization_requests", sa.Boolean,
                                   nullable=False, server_default=sa.false()))
    with op.batch_alter_table("opaque_tokens") as batch:
        batch.add_column(sa.Column("extra", sa.Text))
    with op.batch_alter_table("refresh_families") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.String(64)))
    op.create_table(
        "dpop_proofs",
        sa.Column("proof_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("expires_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_dpop_proofs_expires_at", "dpop_proofs", ["expires_at"])
    op.create_table(
        "resource_servers",
        sa.Column("id", ID, primary_key=True),
        sa.Column("audience", sa.String(2048), nullable=False, unique=True),
        sa.Column("encryption_jwk", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "pushed_requests",
        sa.Column("request_hash", sa.LargeBinary(64), primary_key=True),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
        sa.Column("started_at", UtcDateTime),
    )
    op.create_index("ix_pushed_requests_expires_at", "pushed_requests", ["expires_at"])


def downgrade() -> None:
    for table in ("pushed_requests", "resource_servers", "dpop_proofs"):
        op.drop_table(table)
    with op.batch_alter_table("refresh_families") as batch:
        batch.drop_column("dpop_jkt")
    with op.batch_alter_table("opaque_tokens") as batch:
        batch.drop_column("extra")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("require_pushed_authorization_requests")
        batch.drop_column("dpop_bound_access_tokens")
