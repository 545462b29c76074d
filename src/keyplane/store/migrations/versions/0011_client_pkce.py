"""Clients say whether their authorization requests must carry PKCE (`pkce_required`).

True for every client, existing ones included: RFC 9700 §2.1.1 asks PKCE of confidential
clients too. A confidential client that cannot send it is opted out with
`PATCH /v1/clients/{id} {"pkce_required": false}`; a public client always uses it.

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


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("pkce_required")
