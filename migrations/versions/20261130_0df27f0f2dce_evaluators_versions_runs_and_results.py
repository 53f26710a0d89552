"""Evaluators, their versions, eval runs and results.

Revision ID: 0df27f0f2dce
Revises: d5d4e481d6a0
Create Date: 2026-11-30 05:23:29.344528+00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0df27f0f2dce'
down_revision = 'd5d4e481d6a0'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('eval_run',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='queued', nullable=False),
    sa.Column('evaluator_version_ids', postgresql.ARRAY(sa.BigInteger()), server_default='{}', nullable=False),
    sa.Column('filter', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('total', sa.Integer(), server_default='0', nullable=False),
    sa.Column('done', sa.Integer(), server_default='0', nullable=False),
    sa.Column('cursor_trace_id', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('failed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_eval_run_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_eval_run'))
    )
    op.create_index('ix_eval_run_project_created', 'eval_run', ['project_id', 'created_at'], unique=False)
    op.create_table('evaluator',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('issue_id', sa.BigInteger(), nullable=True),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('origin', sa.String(length=20), server_default='generated', nullable=False),
    sa.Column('active', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('active_version_id', sa.BigInteger(), nullable=True),
    sa.Column('sampling_rate', sa.Float(), server_default='1', nullable=False),
    sa.Column('drift', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('realigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.BigInteger(), nullable=True),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('sampling_rate > 0 AND sampling_rate <= 1', name=op.f('ck_evaluator_sampling_rate')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_evaluator_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['issue_id'], ['issue.id'], name=op.f('fk_evaluator_issue_id_issue'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_evaluator_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluator'))
    )
    op.create_index('ix_evaluator_project_issue', 'evaluator', ['project_id', 'issue_id'], unique=False)
    op.create_table('evaluator_version',
    sa.Column('evaluator_id', sa.BigInteger(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='pending', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('family', sa.String(length=30), nullable=True),
    sa.Column('spec', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('mcc', sa.Float(), nullable=True),
    sa.Column('mcc_ci_low', sa.Float(), nullable=True),
    sa.Column('mcc_ci_high', sa.Float(), nullable=True),
    sa.Column('tpr', sa.Float(), nullable=True),
    sa.Column('tnr', sa.Float(), nullable=True),
    sa.Column('metrics', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('report', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('train_size', sa.Integer(), nullable=True),
    sa.Column('holdout_size', sa.Integer(), nullable=True),
    sa.Column('seen_trace_ids', postgresql.ARRAY(sa.BigInteger()), server_default='{}', nullable=False),
    sa.Column('created_by_id', sa.BigInteger(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_evaluator_version_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['evaluator_id'], ['evaluator.id'], name=op.f('fk_evaluator_version_evaluator_id_evaluator'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evaluator_version')),
    sa.UniqueConstraint('evaluator_id', 'number', name=op.f('uq_evaluator_version_evaluator_id_number'))
    )
    # evaluator <-> evaluator_version refer to each other: this key comes last.
    op.create_foreign_key(op.f('fk_evaluator_active_version_id_evaluator_version'), 'evaluator',
                          'evaluator_version', ['active_version_id'], ['id'], ondelete='SET NULL')
    op.create_table('eval_result',
    sa.Column('evaluator_version_id', sa.BigInteger(), nullable=False),
    sa.Column('trace_id', sa.BigInteger(), nullable=False),
    sa.Column('trace_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.BigInteger(), nullable=True),
    sa.Column('verdict', sa.String(length=5), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('explanation', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("verdict IN ('pass', 'fail', 'error')", name=op.f('ck_eval_result_verdict')),
    sa.ForeignKeyConstraint(['evaluator_version_id'], ['evaluator_version.id'], name=op.f('fk_eval_result_evaluator_version_id_evaluator_version'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['eval_run.id'], name=op.f('fk_eval_result_run_id_eval_run'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['trace_id'], ['trace.id'], name=op.f('fk_eval_result_trace_id_trace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_eval_result')),
    sa.UniqueConstraint('evaluator_version_id', 'trace_id', name=op.f('uq_eval_result_evaluator_version_id_trace_id'))
    )
    op.create_index('ix_eval_result_trace', 'eval_result', ['trace_id'], unique=False)
    op.create_index('ix_eval_result_version_fail_at', 'eval_result', ['evaluator_version_id', 'trace_start'], unique=False, postgresql_where=sa.text("verdict = 'fail'"))


def downgrade() -> None:
    op.drop_constraint(op.f('fk_evaluator_active_version_id_evaluator_version'), 'evaluator', type_='foreignkey')
    op.drop_index('ix_eval_result_version_fail_at', table_name='eval_result', postgresql_where=sa.text("verdict = 'fail'"))
    op.drop_index('ix_eval_result_trace', table_name='eval_result')
    op.drop_table('eval_result')
    op.drop_table('evaluator_version')
    op.drop_index('ix_evaluator_project_issue', table_name='evaluator')
    op.drop_table('evaluator')
    op.drop_index('ix_eval_run_project_created', table_name='eval_run')
    op.drop_table('eval_run')
