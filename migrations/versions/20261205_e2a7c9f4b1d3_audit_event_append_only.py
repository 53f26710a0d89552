"""The audit log is append-only, enforced by the database.

A trigger refuses every UPDATE and DELETE on `audit_event`, whoever runs it (the
application's own role included), so the record of who did what cannot be edited
after the fact. The foreign key to `project` goes: its ON DELETE SET NULL was an
UPDATE the trigger would refuse, and the log must outlive a deleted project anyway
(the project id stays as a plain number). The index grows `id` so the audit page's
keyset (at, id) is served by it.

Revision ID: e2a7c9f4b1d3
Revises: c4e7a1d9b352
Create Date: 2026-12-05 19:30:00+00:00
"""

from alembic import op

revision = 'e2a7c9f4b1d3'
down_revision = 'c4e7a1d9b352'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint('fk_audit_event_project_id_project', 'audit_event', type_='foreignkey')
    op.drop_index('ix_audit_event_project_id_at', table_name='audit_event')
    op.create_index('ix_audit_event_project_id_at_id', 'audit_event', ['project_id', 'at', 'id'], unique=False)
    op.execute("""
        CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
    """)
    op.execute("""
        CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
        FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_event_append_only ON audit_event")
    op.execute("DROP FUNCTION audit_event_append_only()")
    op.drop_index('ix_audit_event_project_id_at_id', table_name='audit_event')
    op.create_index('ix_audit_event_project_id_at', 'audit_event', ['project_id', 'at'], unique=False)
    # Rows whose project is gone would break the restored key: the trigger is off by now.
    op.execute("UPDATE audit_event SET project_id = NULL "
                "WHERE project_id IS NOT NULL AND project_id NOT IN (SELECT id FROM project)")
    op.create_foreign_key('fk_audit_event_project_id_project', 'audit_event', 'project',
                          ['project_id'], ['id'], ondelete='SET NULL')
