"""Daily roll-ups of human labels and of annotation work.

Revision ID: c4e7a1d9b352
Revises: 7c3e9a41b2d0
Create Date: 2026-12-05 18:45:00+00:00
"""

from alembic import op
import sqlalchemy as sa

revision = 'c4e7a1d9b352'
down_revision = '7c3e9a41b2d0'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dashboard_human_day',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('release', sa.Text(), nullable=False),
    sa.Column('environment', sa.Text(), nullable=False),
    sa.Column('labelled', sa.Integer(), nullable=False),
    sa.Column('fails', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_dashboard_human_day_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'day', 'release', 'environment', name=op.f('pk_dashboard_human_day'))
    )
    op.create_table('dashboard_annotation_day',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('annotator', sa.Text(), nullable=False),
    sa.Column('annotations', sa.Integer(), nullable=False),
    sa.Column('timed', sa.Integer(), nullable=False),
    sa.Column('seconds', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_dashboard_annotation_day_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', 'day', 'annotator', name=op.f('pk_dashboard_annotation_day'))
    )


def downgrade() -> None:
    op.drop_table('dashboard_annotation_day')
    op.drop_table('dashboard_human_day')
