"""A per-user session version: sign-out, password change, deactivation and role change end sessions.

Revision ID: 3f8a1c6d2e57
Revises: c3e8a1d5f7b2
Create Date: 2026-12-05 18:10:00+00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '3f8a1c6d2e57'
down_revision = 'c3e8a1d5f7b2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('user', sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    op.drop_column('user', 'session_version')
