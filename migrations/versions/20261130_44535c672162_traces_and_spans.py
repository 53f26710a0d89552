"""Traces (with their roll-up and search vector) and spans.

Revision ID: 44535c672162
Revises: 1497d70cdfb9
Create Date: 2026-11-30 05:12:01.673425+00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.dialects import postgresql

revision = '44535c672162'
down_revision = '1497d70cdfb9'
branch_labels = None
depends_on = None

LZ4_COLUMNS = ("input", "output", "system", "input_messages", "output_messages", "attributes",
               "events", "resource")


def upgrade() -> None:
    op.create_table('trace',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('external_id', sa.String(length=256), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('session_id', sa.Text(), nullable=True),
    sa.Column('user_id', sa.Text(), nullable=True),
    sa.Column('release', sa.Text(), nullable=True),
    sa.Column('environment', sa.Text(), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('models', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('input', sa.Text(), nullable=True),
    sa.Column('output', sa.Text(), nullable=True),
    sa.Column('start_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_ms', sa.Float(), sa.Computed('EXTRACT(EPOCH FROM (end_time - start_time)) * 1000', persisted=True), nullable=False),
    sa.Column('span_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('tokens_in', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('tokens_out', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('tokens_total', sa.BigInteger(), sa.Computed('tokens_in + tokens_out', persisted=True), nullable=False),
    sa.Column('cost', sa.Float(), nullable=True),
    sa.Column('has_error', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('root_seen', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('search', postgresql.TSVECTOR(), nullable=True),
    sa.Column('search_pending', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_trace_project_id_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trace')),
    sa.UniqueConstraint('project_id', 'external_id', name=op.f('uq_trace_project_id_external_id'))
    )
    op.create_index('ix_trace_models', 'trace', ['models'], unique=False, postgresql_using='gin')
    op.create_index('ix_trace_project_cost', 'trace', ['project_id', sa.literal_column('COALESCE(cost, 0)'), 'id'], unique=False)
    op.create_index('ix_trace_project_duration', 'trace', ['project_id', 'duration_ms', 'id'], unique=False)
    op.create_index('ix_trace_project_errors', 'trace', ['project_id', sa.literal_column('start_time DESC')], unique=False, postgresql_where=sa.text('has_error'))
    op.create_index('ix_trace_project_name', 'trace', ['project_id', 'name', 'start_time'], unique=False)
    op.create_index('ix_trace_project_release', 'trace', ['project_id', 'release', 'start_time'], unique=False)
    op.create_index('ix_trace_project_session', 'trace', ['project_id', 'session_id', 'start_time'], unique=False)
    op.create_index('ix_trace_project_start', 'trace', ['project_id', sa.literal_column('start_time DESC'), sa.literal_column('id DESC')], unique=False)
    op.create_index('ix_trace_project_tokens', 'trace', ['project_id', 'tokens_total', 'id'], unique=False)
    op.create_index('ix_trace_project_user', 'trace', ['project_id', 'user_id', 'start_time'], unique=False)
    op.create_index('ix_trace_search', 'trace', ['search'], unique=False, postgresql_using='gin')
    op.create_index('ix_trace_search_pending', 'trace', ['id'], unique=False, postgresql_where=sa.text('search_pending'))
    op.create_index('ix_trace_tags', 'trace', ['tags'], unique=False, postgresql_using='gin')
    op.create_table('span',
    sa.Column('trace_id', sa.BigInteger(), nullable=False),
    sa.Column('external_id', sa.String(length=256), nullable=False),
    sa.Column('parent_external_id', sa.String(length=256), nullable=True),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('model', sa.Text(), nullable=True),
    sa.Column('provider', sa.Text(), nullable=True),
    sa.Column('operation', sa.Text(), nullable=True),
    sa.Column('tool_name', sa.Text(), nullable=True),
    sa.Column('input', sa.Text(), nullable=True),
    sa.Column('output', sa.Text(), nullable=True),
    sa.Column('input_messages', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('output_messages', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('system', sa.Text(), nullable=True),
    sa.Column('tokens_in', sa.BigInteger(), nullable=True),
    sa.Column('tokens_out', sa.BigInteger(), nullable=True),
    sa.Column('tokens_cache_read', sa.BigInteger(), nullable=True),
    sa.Column('tokens_cache_write', sa.BigInteger(), nullable=True),
    sa.Column('tokens_reasoning', sa.BigInteger(), nullable=True),
    sa.Column('cost', sa.Float(), nullable=True),
    sa.Column('start_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.Float(), sa.Computed('EXTRACT(EPOCH FROM (end_time - start_time)) * 1000', persisted=True), nullable=True),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('resource', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('events', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('scope', sa.Text(), nullable=True),
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['trace_id'], ['trace.id'], name=op.f('fk_span_trace_id_trace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_span')),
    sa.UniqueConstraint('trace_id', 'external_id', name=op.f('uq_span_trace_id_external_id'))
    )
    # Large span values compress with lz4, several times faster than the default
    # pglz, where the server is built with it (the embedded one is not).
    if _lz4_supported():
        for column in LZ4_COLUMNS:
            op.execute(f"ALTER TABLE span ALTER COLUMN {column} SET COMPRESSION lz4")


def _lz4_supported() -> bool:
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("SET LOCAL default_toast_compression = 'lz4'")
    except DBAPIError:
        return False
    return True


def downgrade() -> None:
    op.drop_table('span')
    op.drop_index('ix_trace_tags', table_name='trace', postgresql_using='gin')
    op.drop_index('ix_trace_search_pending', table_name='trace', postgresql_where=sa.text('search_pending'))
    op.drop_index('ix_trace_search', table_name='trace', postgresql_using='gin')
    op.drop_index('ix_trace_project_user', table_name='trace')
    op.drop_index('ix_trace_project_tokens', table_name='trace')
    op.drop_index('ix_trace_project_start', table_name='trace')
    op.drop_index('ix_trace_project_session', table_name='trace')
    op.drop_index('ix_trace_project_release', table_name='trace')
    op.drop_index('ix_trace_project_name', table_name='trace')
    op.drop_index('ix_trace_project_errors', table_name='trace', postgresql_where=sa.text('has_error'))
    op.drop_index('ix_trace_project_duration', table_name='trace')
    op.drop_index('ix_trace_project_cost', table_name='trace')
    op.drop_index('ix_trace_models', table_name='trace', postgresql_using='gin')
    op.drop_table('trace')
