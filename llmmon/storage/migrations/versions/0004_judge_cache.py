"""judge cache: judge_cache_entry table

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-26 10:43:21.844675
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "judge_cache_entry",
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("prompt_name", sa.String(length=256), nullable=False),
        sa.Column("prompt_version", sa.String(length=64), nullable=False),
        sa.Column("prompt_hash", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cache_key"),
    )
    with op.batch_alter_table("judge_cache_entry", schema=None) as batch_op:
        batch_op.create_index("ix_judge_cache_entry_prompt", ["prompt_name", "prompt_version"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("judge_cache_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_judge_cache_entry_prompt")
    op.drop_table("judge_cache_entry")
