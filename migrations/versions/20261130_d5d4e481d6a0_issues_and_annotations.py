"""Issues with their event log; annotation queues, items, locks, annotations, adjudications.

Revision ID: d5d4e481d6a0
Revises: 44535c672162
Create Date: 2026-11-30 05:19:26.694460+00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'd5d4e481d6a0'
down_revision = '44535c672162'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('annotation_queue',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('instructions', sa.Text(), server_default='', nullable=False),
    sa.Column('annotators_per_item', sa.Integer(), server_default='1', nullable=False),
    sa.Column('filter', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('sampling_rate', sa.Float(), server_default='1', nullable=False),
    sa.Column('cap', sa.Integer(), nullable=True),
    sa.Column('live', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('created_by_id', sa.BigInteger(), nullable=True),
    sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('annotators_per_item BETWEEN 1 AND 5', name=op.f('ck_annotation_queue_annotators_per_item')),
    sa.CheckConstraint('sampling_rate > 0 AND sampling_rate <= 1', name=op.f('ck_annotation_queue_sampling_rate')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_annotation_queue_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_annotation_queue_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annotation_queue')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_annotation_queue_project_id_name'))
    )
    op.create_table('issue',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('state', sa.String(length=20), server_default='new', nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('merged_into_id', sa.BigInteger(), nullable=True),
    sa.Column('created_by_id', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_issue_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merged_into_id'], ['issue.id'], name=op.f('fk_issue_merged_into_id_issue'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_issue_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue'))
    )
    op.create_index('ix_issue_project_state', 'issue', ['project_id', 'state', 'last_seen'], unique=False)
    op.create_index('ix_issue_project_title', 'issue', ['project_id', sa.literal_column('lower(title)')], unique=False)
    op.create_table('adjudication',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('trace_id', sa.BigInteger(), nullable=False),
    sa.Column('verdict', sa.String(length=4), nullable=False),
    sa.Column('issue_ids', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('adjudicator_id', sa.BigInteger(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("verdict IN ('pass', 'fail')", name=op.f('ck_adjudication_verdict')),
    sa.ForeignKeyConstraint(['adjudicator_id'], ['user.id'], name=op.f('fk_adjudication_adjudicator_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_adjudication_project_id_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['trace_id'], ['trace.id'], name=op.f('fk_adjudication_trace_id_trace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adjudication')),
    sa.UniqueConstraint('trace_id', name=op.f('uq_adjudication_trace_id'))
    )
    op.create_table('annotation',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('trace_id', sa.BigInteger(), nullable=False),
    sa.Column('annotator', sa.String(length=200), nullable=False),
    sa.Column('author_id', sa.BigInteger(), nullable=True),
    sa.Column('queue_id', sa.BigInteger(), nullable=True),
    sa.Column('verdict', sa.String(length=4), nullable=False),
    sa.Column('feedback', sa.Text(), server_default='', nullable=False),
    sa.Column('corrected_output', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("verdict = 'pass' OR length(btrim(feedback)) > 0", name=op.f('ck_annotation_feedback_on_fail')),
    sa.CheckConstraint("verdict IN ('pass', 'fail')", name=op.f('ck_annotation_verdict')),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_annotation_author_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_annotation_project_id_project'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['queue_id'], ['annotation_queue.id'], name=op.f('fk_annotation_queue_id_annotation_queue'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['trace_id'], ['trace.id'], name=op.f('fk_annotation_trace_id_trace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annotation')),
    sa.UniqueConstraint('trace_id', 'annotator', name=op.f('uq_annotation_trace_id_annotator'))
    )
    op.create_index('ix_annotation_author', 'annotation', ['author_id', 'updated_at'], unique=False)
    op.create_index('ix_annotation_project_updated', 'annotation', ['project_id', 'updated_at'], unique=False)
    op.create_table('issue_event',
    sa.Column('issue_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=30), server_default='transition', nullable=False),
    sa.Column('from_state', sa.String(length=20), nullable=True),
    sa.Column('to_state', sa.String(length=20), nullable=True),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['issue.id'], name=op.f('fk_issue_event_issue_id_issue'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_event'))
    )
    op.create_index('ix_issue_event_issue_at', 'issue_event', ['issue_id', 'at'], unique=False)
    op.create_table('queue_item',
    sa.Column('queue_id', sa.BigInteger(), nullable=False),
    sa.Column('trace_id', sa.BigInteger(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('annotation_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('done', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['queue_id'], ['annotation_queue.id'], name=op.f('fk_queue_item_queue_id_annotation_queue'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['trace_id'], ['trace.id'], name=op.f('fk_queue_item_trace_id_trace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_item')),
    sa.UniqueConstraint('queue_id', 'trace_id', name=op.f('uq_queue_item_queue_id_trace_id'))
    )
    op.create_index('ix_queue_item_open', 'queue_item', ['queue_id', 'id'], unique=False, postgresql_where=sa.text('NOT done'))
    op.create_index(op.f('ix_queue_item_trace_id'), 'queue_item', ['trace_id'], unique=False)
    op.create_table('queue_member',
    sa.Column('queue_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['queue_id'], ['annotation_queue.id'], name=op.f('fk_queue_member_queue_id_annotation_queue'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_queue_member_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('queue_id', 'user_id', name=op.f('pk_queue_member'))
    )
    op.create_table('annotation_issue',
    sa.Column('annotation_id', sa.BigInteger(), nullable=False),
    sa.Column('issue_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['annotation_id'], ['annotation.id'], name=op.f('fk_annotation_issue_annotation_id_annotation'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['issue_id'], ['issue.id'], name=op.f('fk_annotation_issue_issue_id_issue'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('annotation_id', 'issue_id', name=op.f('pk_annotation_issue'))
    )
    op.create_index(op.f('ix_annotation_issue_issue_id'), 'annotation_issue', ['issue_id'], unique=False)
    op.create_table('annotation_revision',
    sa.Column('annotation_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('editor', sa.String(length=200), nullable=False),
    sa.Column('previous', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['annotation_id'], ['annotation.id'], name=op.f('fk_annotation_revision_annotation_id_annotation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_annotation_revision'))
    )
    op.create_index('ix_annotation_revision_annotation', 'annotation_revision', ['annotation_id', 'at'], unique=False)
    op.create_table('queue_lock',
    sa.Column('item_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['queue_item.id'], name=op.f('fk_queue_lock_item_id_queue_item'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_queue_lock_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_id', 'user_id', name=op.f('pk_queue_lock'))
    )
    op.create_table('queue_skip',
    sa.Column('item_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['queue_item.id'], name=op.f('fk_queue_skip_item_id_queue_item'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_queue_skip_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_id', 'user_id', name=op.f('pk_queue_skip'))
    )


def downgrade() -> None:
    op.drop_table('queue_skip')
    op.drop_table('queue_lock')
    op.drop_index('ix_annotation_revision_annotation', table_name='annotation_revision')
    op.drop_table('annotation_revision')
    op.drop_index(op.f('ix_annotation_issue_issue_id'), table_name='annotation_issue')
    op.drop_table('annotation_issue')
    op.drop_table('queue_member')
    op.drop_index(op.f('ix_queue_item_trace_id'), table_name='queue_item')
    op.drop_index('ix_queue_item_open', table_name='queue_item', postgresql_where=sa.text('NOT done'))
    op.drop_table('queue_item')
    op.drop_index('ix_issue_event_issue_at', table_name='issue_event')
    op.drop_table('issue_event')
    op.drop_index('ix_annotation_project_updated', table_name='annotation')
    op.drop_index('ix_annotation_author', table_name='annotation')
    op.drop_table('annotation')
    op.drop_table('adjudication')
    op.drop_index('ix_issue_project_title', table_name='issue')
    op.drop_index('ix_issue_project_state', table_name='issue')
    op.drop_table('issue')
    op.drop_table('annotation_queue')
