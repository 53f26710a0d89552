"""Issue suggestions (with their last run), webhooks with their deliveries, in-app notifications.

Revision ID: 1abae57616eb
Revises: 0df27f0f2dce
Create Date: 2026-11-30 05:33:28.904477+00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '1abae57616eb'
down_revision = '0df27f0f2dce'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification_seen',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('seen_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_notification_seen_project_id_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_notification_seen_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'project_id', name=op.f('pk_notification_seen'))
    )
    op.create_table('suggestion_run',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('inputs', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_suggestion_run_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id', name=op.f('pk_suggestion_run'))
    )
    op.create_table('webhook',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=False),
    sa.Column('events', postgresql.ARRAY(sa.String(length=30)), nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_by_id', sa.BigInteger(), nullable=True),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_webhook_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_webhook_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook'))
    )
    op.create_index(op.f('ix_webhook_project_id'), 'webhook', ['project_id'], unique=False)
    op.create_table('issue_suggestion',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('issue_id', sa.BigInteger(), nullable=True),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('trace_ids', postgresql.ARRAY(sa.BigInteger()), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='open', nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=200), nullable=True),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('match', 'new')", name=op.f('ck_issue_suggestion_kind')),
    sa.CheckConstraint("status IN ('open', 'accepted', 'dismissed')", name=op.f('ck_issue_suggestion_status')),
    sa.ForeignKeyConstraint(['issue_id'], ['issue.id'], name=op.f('fk_issue_suggestion_issue_id_issue'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_issue_suggestion_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_suggestion')),
    sa.UniqueConstraint('project_id', 'fingerprint', name=op.f('uq_issue_suggestion_project_id_fingerprint'))
    )
    op.create_index('ix_issue_suggestion_open', 'issue_suggestion', ['project_id'], unique=False, postgresql_where=sa.text("status = 'open'"))
    op.create_table('notification',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('issue_id', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['issue_event.id'], name=op.f('fk_notification_event_id_issue_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['issue_id'], ['issue.id'], name=op.f('fk_notification_issue_id_issue'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_notification_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification')),
    sa.UniqueConstraint('event_id', name=op.f('uq_notification_event_id'))
    )
    op.create_index('ix_notification_project_at', 'notification', ['project_id', 'at'], unique=False)
    op.create_table('webhook_delivery',
    sa.Column('webhook_id', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='pending', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('response_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name=op.f('ck_webhook_delivery_status')),
    sa.ForeignKeyConstraint(['event_id'], ['issue_event.id'], name=op.f('fk_webhook_delivery_event_id_issue_event'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['webhook_id'], ['webhook.id'], name=op.f('fk_webhook_delivery_webhook_id_webhook'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery')),
    sa.UniqueConstraint('webhook_id', 'event_id', name=op.f('uq_webhook_delivery_webhook_id_event_id'))
    )
    op.create_index('ix_webhook_delivery_pending', 'webhook_delivery', ['next_attempt_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_index('ix_webhook_delivery_webhook_created', 'webhook_delivery', ['webhook_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_webhook_delivery_webhook_created', table_name='webhook_delivery')
    op.drop_index('ix_webhook_delivery_pending', table_name='webhook_delivery', postgresql_where=sa.text("status = 'pending'"))
    op.drop_table('webhook_delivery')
    op.drop_index('ix_notification_project_at', table_name='notification')
    op.drop_table('notification')
    op.drop_index('ix_issue_suggestion_open', table_name='issue_suggestion', postgresql_where=sa.text("status = 'open'"))
    op.drop_table('issue_suggestion')
    op.drop_index(op.f('ix_webhook_project_id'), table_name='webhook')
    op.drop_table('webhook')
    op.drop_table('suggestion_run')
    op.drop_table('notification_seen')
