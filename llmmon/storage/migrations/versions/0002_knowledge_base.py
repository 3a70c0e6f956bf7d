"""knowledge base

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 10:44:29.805670
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('knowledge_base',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('version_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('kb_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kb_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=1024), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['kb_id'], ['knowledge_base.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kb_id', 'source', name='uq_kb_document_kb_source')
    )
    with op.batch_alter_table('kb_document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_document_kb_id'), ['kb_id'], unique=False)

    op.create_table('kb_passage',
    sa.Column('passage_id', sa.String(length=32), nullable=False),
    sa.Column('kb_id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.String(length=256), nullable=True),
    sa.Column('start', sa.Integer(), nullable=False),
    sa.Column('end', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['kb_document.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['kb_id'], ['knowledge_base.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('passage_id')
    )
    with op.batch_alter_table('kb_passage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kb_passage_document_id'), ['document_id'], unique=False)
        batch_op.create_index('ix_kb_passage_kb_position', ['kb_id', 'document_id', 'position'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('kb_passage', schema=None) as batch_op:
        batch_op.drop_index('ix_kb_passage_kb_position')
        batch_op.drop_index(batch_op.f('ix_kb_passage_document_id'))

    op.drop_table('kb_passage')
    with op.batch_alter_table('kb_document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kb_document_kb_id'))

    op.drop_table('kb_document')
    op.drop_table('knowledge_base')
