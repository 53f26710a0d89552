"""Time spent on an annotation in the workbench (pace, annotation hours).

Revision ID: 8c1f2e7a9b10
Revises: 5e026476599f
Create Date: 2026-12-05 18:20:00+00:00
"""

from alembic import op
import sqlalchemy as sa

revision = '8c1f2e7a9b10'
down_revision = '5e026476599f'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('annotation', sa.Column('seconds_spent', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('annotation', 'seconds_spent')
