"""Daily roll-ups of the dashboard.

Revision ID: b81d4c2e9f13
Revises: b7c1f0e2a9d4
Create Date: 2026-12-05 18:10:00+00:00
"""

from alembic import op
import sqlalchemy as sa

revision = 'b81d4c2e9f13'
down_revision = 'b7c1f0e2a9d4'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dashboard_day',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('release', sa.Text(), nullable=False),
    sa.Column('environment', sa.Text(), nullable=False),
    sa.Column('traces', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('tokens', sa.BigInteger(), nullable=False),
    sa.Column('cost', sa.Float(), nullable=False),
    sa.Column('latency_p50', sa.Float(), nullable=True),
    sa.Column('latency_p95', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_dashboard_day_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'day', 'release', 'environment', name=op.f('pk_dashboard_day'))
    )
    op.create_table('dashboard_eval_day',
    sa.Column('evaluator_version_id', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('release', sa.Text(), nullable=False),
    sa.Column('environment', sa.Text(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('fails', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('estimate', sa.Float(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['evaluator_version_id'], ['evaluator_version.id'], name=op.f('fk_dashboard_eval_day_evaluator_version_id_evaluator_version'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_dashboard_eval_day_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('evaluator_version_id', 'day', 'release', 'environment', name=op.f('pk_dashboard_eval_day'))
    )
    op.create_index('ix_dashboard_eval_day_project_day', 'dashboard_eval_day', ['project_id', 'day'], unique=False)
    op.create_table('dashboard_state',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('trace_watermark', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('result_watermark', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_dashboard_state_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', name=op.f('pk_dashboard_state'))
    )


def downgrade() -> None:
    op.drop_table('dashboard_state')
    op.drop_index('ix_dashboard_eval_day_project_day', table_name='dashboard_eval_day')
    op.drop_table('dashboard_eval_day')
    op.drop_table('dashboard_day')
