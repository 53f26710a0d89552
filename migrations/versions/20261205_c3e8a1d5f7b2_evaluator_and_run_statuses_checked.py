"""Evaluator version and eval run statuses are checked against their enums; eval_run's
never-written failed and error columns are dropped.

Revision ID: c3e8a1d5f7b2
Revises: b81d4c2e9f13
Create Date: 2026-12-05 18:40:00+00:00
"""

from alembic import op
import sqlalchemy as sa

revision = 'c3e8a1d5f7b2'
down_revision = 'b81d4c2e9f13'
branch_labels = None
depends_on = None

# The values as of this revision (app/evals/models.py: VersionStatus, RunStatus).
VERSION_STATUSES = ('pending', 'running', 'ready', 'failed', 'insufficient')
RUN_STATUSES = ('queued', 'running', 'done', 'failed', 'cancelled')


def _one_of(values: tuple[str, ...]) -> str:
    return f"status IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_check_constraint(op.f('ck_evaluator_version_status'), 'evaluator_version', _one_of(VERSION_STATUSES))
    op.create_check_constraint(op.f('ck_eval_run_status'), 'eval_run', _one_of(RUN_STATUSES))
    op.drop_column('eval_run', 'failed')
    op.drop_column('eval_run', 'error')


def downgrade() -> None:
    op.add_column('eval_run', sa.Column('error', sa.Text(), nullable=True))
    op.add_column('eval_run', sa.Column('failed', sa.Integer(), server_default='0', nullable=False))
    op.drop_constraint(op.f('ck_eval_run_status'), 'eval_run', type_='check')
    op.drop_constraint(op.f('ck_evaluator_version_status'), 'evaluator_version', type_='check')
