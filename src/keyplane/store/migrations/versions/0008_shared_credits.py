"""A rolled key spends the balance of the key it was rolled into.

Rolling a key copied its credit balance to the new key, so during the grace period the two
keys could spend it twice. Now the balance moves to the new key and the old key's
`credits_key_id` points at it (its own `credits_remaining` becomes NULL): both spend one
balance. The index finds the keys pointing at a key when that key is rolled in turn.
Downgrading gives each pointing key a copy of the balance it points at (the old behaviour).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

INDEX = "ix_keys_credits_key_id"


def upgrade() -> None:
    op.add_column("keys", sa.Column("credits_key_id", sa.String(40)))
    op.create_index(INDEX, "keys", ["credits_key_id"])


def downgrade() -> None:
    op.execute("UPDATE keys SET credits_remaining = COALESCE((SELECT k.credits_remaining FROM keys k"
               " WHERE k.id = keys.credits_key_id), 0) WHERE credits_key_id IS NOT NULL")
    op.drop_index(INDEX, "keys")
    with op.batch_alter_table("keys") as batch:
        batch.drop_column("credits_key_id")
