"""Time spent on an annotation in the workbench (pace, annotation hours).

Revision ID: 8c1f2e7a9b10
Revises: 7a3c9e1f2b40
Create Date: 2026-12-05 18:20:00+00:00
"""

from alembic import op
import sqlalchemy as sa

revision = '8c1f2e7a9b10'
down_revision = '7a3c9e1f2b40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('annotation', sa.Column('seconds_spent', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('annotation', 'seconds_spent')
