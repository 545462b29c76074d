"""PostgreSQL tells every process when a client, a revocation or a signing key changes, so the
token endpoint may keep clients, introspection may remember tokens it found not revoked, and
a rotation reaches every replica at once.

Triggers send, in the transaction of the change and delivered at its commit
(store/change_notices.py), `NOTIFY keyplane_key_changes` with `client:<id>` for every update
or deletion of a client (its secret rolled, its settings changed, the client deleted), and
with `revocation` for every row added to the deny-list (a revoked JWT, a deleted client),
and with `signing-keys` for every change of the signing keys (a rotation on another replica
is used and published at once, not at its next reload).
Rows pruned after they expire need no notice (a token of an expired entry has expired too).
SQLite needs none of this.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# trigger: (table, events, the notice's payload as SQL)
TRIGGERS = {
    "keyplane_client_change": ("clients", "UPDATE OR DELETE", "'client:' || OLD.id"),
    "keyplane_revocation": ("revocations", "INSERT", "'revocation'"),
    "keyplane_signing_key_change": ("signing_keys", "INSERT OR UPDATE OR DELETE", "'signing-keys'"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (table, on, payload) in TRIGGERS.items():
        op.execute(f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('keyplane_key_changes', {payload});
  RETURN NULL;
END $$""")
        op.execute(f"CREATE TRIGGER {name} AFTER {on} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (table, _, _) in TRIGGERS.items():
        op.execute(f"DROP TRIGGER {name} ON {table}")
        op.execute(f"DROP FUNCTION {name}()")
