"""OpenID Connect: clients' `post_logout_redirect_uris` (RP-Initiated Logout 1.0 §3.1),
and, on authorization codes and refresh-token families, what an ID token says of the login
they came from (`auth_time`, `sid`) and, on codes, the request's `nonce`.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keyplane.store.tables import UtcDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("post_logout_redirect_uris", sa.Text, nullable=False,
                                   server_default="[]"))
    with op.batch_alter_table("authorization_codes") as batch:
        batch.add_column(sa.Column("nonce", sa.Text))
        batch.add_column(sa.Column("auth_time", UtcDateTime))
        batch.add_column(sa.Column("sid", sa.String(64)))
    with op.batch_alter_table("refresh_families") as batch:
        batch.add_column(sa.Column("auth_time", UtcDateTime))
        batch.add_column(sa.Column("sid", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("refresh_families") as batch:
        batch.drop_column("sid")
        batch.drop_column("auth_time")
    with op.batch_alter_table("authorization_codes") as batch:
        batch.drop_column("sid")
        batch.drop_column("auth_time")
        batch.drop_column("nonce")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("post_logout_redirect_uris")
