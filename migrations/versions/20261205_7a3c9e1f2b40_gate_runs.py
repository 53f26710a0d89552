"""Gate runs, their uploaded outputs and each project's gate thresholds.

Revision ID: 7a3c9e1f2b40
Revises: 5e026476599f
Create Date: 2026-12-05 18:00:00+00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '7a3c9e1f2b40'
down_revision = '5e026476599f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gate_run',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('release', sa.String(length=200), nullable=False),
    sa.Column('commit', sa.String(length=100), nullable=True),
    sa.Column('trigger', sa.String(length=500), server_default='', nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('traces_filter', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('baseline', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('thresholds', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('status', sa.String(length=20), server_default='queued', nullable=False),
    sa.Column('verdict', sa.String(length=10), nullable=True),
    sa.Column('total', sa.Integer(), server_default='0', nullable=False),
    sa.Column('done', sa.Integer(), server_default='0', nullable=False),
    sa.Column('cursor', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('report', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_gate_run_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gate_run'))
    )
    op.create_index('ix_gate_run_project_created', 'gate_run', ['project_id', 'created_at'], unique=False)
    op.create_index('ix_gate_run_project_release_created', 'gate_run', ['project_id', 'release', 'created_at'], unique=False)
    op.create_table('gate_output',
    sa.Column('gate_run_id', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['gate_run_id'], ['gate_run.id'], name=op.f('fk_gate_output_gate_run_id_gate_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('gate_run_id', 'seq', name=op.f('pk_gate_output'))
    )
    op.create_table('gate_setting',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('max_increase', sa.Float(), nullable=False),
    sa.Column('min_sample', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_gate_setting_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', name=op.f('pk_gate_setting'))
    )


def downgrade() -> None:
    op.drop_table('gate_setting')
    op.drop_table('gate_output')
    op.drop_index('ix_gate_run_project_release_created', table_name='gate_run')
    op.drop_index('ix_gate_run_project_created', table_name='gate_run')
    op.drop_table('gate_run')
