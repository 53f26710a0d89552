"""Queue claims start at the annotator's frontier: annotations by (queue, author, time), locks by holder.

Revision ID: 5e026476599f
Revises: 75b419e2aad9
Create Date: 2026-11-30 05:44:58.790539+00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '5e026476599f'
down_revision = '75b419e2aad9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_annotation_queue_author', 'annotation', ['queue_id', 'author_id', 'updated_at'], unique=False)
    op.create_index('ix_queue_lock_user', 'queue_lock', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_queue_lock_user', table_name='queue_lock')
    op.drop_index('ix_annotation_queue_author', table_name='annotation')
