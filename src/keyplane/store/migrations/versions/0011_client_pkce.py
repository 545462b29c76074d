"""Clients say whether their authorization requests must carry PKCE (`pkce_required`).

True for every new client: RFC 9700 §2.1.1 asks PKCE of confidential clients too. A
confidential client registered before this revision keeps working as it did (false: an
upgrade must not lock out a web app that never sent PKCE); `PATCH /v1/clients/{id}
{"pkce_required": true}` asks it of that client too (docs/clients.md). A public client
always uses PKCE, whatever this column says.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("clients", sa.Column("pkce_required", sa.Boolean, nullable=False,
                                       server_default=sa.true()))
    op.execute("UPDATE clients SET pkce_required = false WHERE type = 'confidential'")


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("pkce_required")
