"""Failed traces indexed under each explorer sort (latency, tokens, cost).

The explorer's "errors" filter with a sort other than time read the whole sort
index for the few failed traces; these partial indexes hold only those.

Revision ID: 75b419e2aad9
Revises: 1abae57616eb
Create Date: 2026-11-30 05:37:07.224746+00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '75b419e2aad9'
down_revision = '1abae57616eb'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_trace_project_errors_cost', 'trace', ['project_id', sa.literal_column('COALESCE(cost, 0)'), 'id'], unique=False, postgresql_where=sa.text('has_error'))
    op.create_index('ix_trace_project_errors_duration', 'trace', ['project_id', 'duration_ms', 'id'], unique=False, postgresql_where=sa.text('has_error'))
    op.create_index('ix_trace_project_errors_tokens', 'trace', ['project_id', 'tokens_total', 'id'], unique=False, postgresql_where=sa.text('has_error'))


def downgrade() -> None:
    op.drop_index('ix_trace_project_errors_tokens', table_name='trace', postgresql_where=sa.text('has_error'))
    op.drop_index('ix_trace_project_errors_duration', table_name='trace', postgresql_where=sa.text('has_error'))
    op.drop_index('ix_trace_project_errors_cost', table_name='trace', postgresql_where=sa.text('has_error'))
