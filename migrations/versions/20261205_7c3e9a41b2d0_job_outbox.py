"""The job outbox: jobs written with their data, sent by a relay, run under a lease;
eval_run.note says when a run was resumed after its worker stopped, or failed with it.

Revision ID: 7c3e9a41b2d0
Revises: 3f8a1c6d2e57
Create Date: 2026-12-05 18:10:00+00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '7c3e9a41b2d0'
down_revision = '3f8a1c6d2e57'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('job',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('args', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('coalesce_key', sa.Text(), nullable=True),
    sa.Column('run_after', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job'))
    )
    op.create_index('ix_job_coalesce_key', 'job', ['coalesce_key'], unique=True,
                    postgresql_where=sa.text('started_at IS NULL AND attempts = 0'))
    op.create_index('ix_job_unfinished', 'job', ['run_after'], unique=False,
                    postgresql_where=sa.text('done_at IS NULL'))
    op.add_column('eval_run', sa.Column('note', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('eval_run', 'note')
    op.drop_index('ix_job_unfinished', table_name='job', postgresql_where=sa.text('done_at IS NULL'))
    op.drop_index('ix_job_coalesce_key', table_name='job',
                  postgresql_where=sa.text('started_at IS NULL AND attempts = 0'))
    op.drop_table('job')
