"""PostgreSQL tells every process when a key changes (LISTEN/NOTIFY), so each may cache keys.

Triggers send `NOTIFY keyplane_key_changes` in the transaction of the change (delivered at
its commit, never for a rolled-back one): the key's id when a key row is deleted or changes
in anything but its balance and last use (a credit spend, the usage flush), and
`api:<api id>` when a role of an API is created, changed or deleted (its keys' permissions
may change). A deleted API deletes its keys and roles, each notified. store/change_notices.py
listens. SQLite needs none of this (its data version tells every connection).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CHANNEL = "keyplane_key_changes"
# Columns a change of which does not change a verification's answer.
_UNTOLD = "ARRAY['credits_remaining', 'credits_refilled_at', 'last_used_at']"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
CREATE FUNCTION keyplane_notify_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' OR (to_jsonb(OLD) - {_UNTOLD}) IS DISTINCT FROM (to_jsonb(NEW) - {_UNTOLD}) THEN
    PERFORM pg_notify('{CHANNEL}', OLD.id);
  END IF;
  RETURN NULL;
END $$""")
    op.execute(f"""
CREATE FUNCTION keyplane_notify_role_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('{CHANNEL}', 'api:' || (CASE WHEN TG_OP = 'DELETE' THEN OLD.api_id ELSE NEW.api_id END));
  RETURN NULL;
END $$""")
    op.execute("CREATE TRIGGER keyplane_key_change AFTER UPDATE OR DELETE ON keys "
               "FOR EACH ROW EXECUTE FUNCTION keyplane_notify_key_change()")
    op.execute("CREATE TRIGGER keyplane_role_change AFTER INSERT OR UPDATE OR DELETE ON roles "
               "FOR EACH ROW EXECUTE FUNCTION keyplane_notify_role_change()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER keyplane_role_change ON roles")
    op.execute("DROP TRIGGER keyplane_key_change ON keys")
    op.execute("DROP FUNCTION keyplane_notify_role_change()")
    op.execute("DROP FUNCTION keyplane_notify_key_change()")
