"""tracing tables

Revision ID: 0001
Revises:
Create Date: 2026-11-26 10:39:07.192710
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('span',
    sa.Column('span_id', sa.String(length=32), nullable=False),
    sa.Column('trace_id', sa.String(length=32), nullable=False),
    sa.Column('parent_span_id', sa.String(length=32), nullable=True),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('start_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('latency_ms', sa.Float(), nullable=False),
    sa.Column('ttft_ms', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error_type', sa.String(length=256), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('input', sa.Text(), nullable=True),
    sa.Column('output', sa.Text(), nullable=True),
    sa.Column('io_truncated', sa.Boolean(), nullable=False),
    sa.Column('user_id', sa.String(length=256), nullable=True),
    sa.Column('session_id', sa.String(length=256), nullable=True),
    sa.Column('tags', sa.Text(), nullable=True),
    sa.Column('attributes', sa.Text(), nullable=True),
    sa.Column('prompt_name', sa.String(length=256), nullable=True),
    sa.Column('prompt_version', sa.String(length=64), nullable=True),
    sa.Column('prompt_hash', sa.String(length=64), nullable=True),
    sa.Column('model', sa.String(length=256), nullable=True),
    sa.Column('provider', sa.String(length=64), nullable=True),
    sa.Column('input_tokens', sa.Integer(), nullable=True),
    sa.Column('output_tokens', sa.Integer(), nullable=True),
    sa.Column('cached_tokens', sa.Integer(), nullable=True),
    sa.Column('reasoning_tokens', sa.Integer(), nullable=True),
    sa.Column('total_tokens', sa.Integer(), nullable=True),
    sa.Column('tokens_estimated', sa.Boolean(), nullable=False),
    sa.Column('cost_usd', sa.Float(), nullable=True),
    sa.Column('is_eval', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('span_id')
    )
    with op.batch_alter_table('span', schema=None) as batch_op:
        batch_op.create_index('ix_span_model_start', ['model', 'start_time'], unique=False)
        batch_op.create_index('ix_span_prompt_start', ['prompt_name', 'prompt_version', 'start_time'], unique=False)
        batch_op.create_index('ix_span_root_start', ['parent_span_id', 'start_time'], unique=False)
        batch_op.create_index(batch_op.f('ix_span_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_span_start_time'), ['start_time'], unique=False)
        batch_op.create_index(batch_op.f('ix_span_trace_id'), ['trace_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_span_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('span', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_span_user_id'))
        batch_op.drop_index(batch_op.f('ix_span_trace_id'))
        batch_op.drop_index(batch_op.f('ix_span_start_time'))
        batch_op.drop_index(batch_op.f('ix_span_session_id'))
        batch_op.drop_index('ix_span_root_start')
        batch_op.drop_index('ix_span_prompt_start')
        batch_op.drop_index('ix_span_model_start')

    op.drop_table('span')
