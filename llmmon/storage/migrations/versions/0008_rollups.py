"""Hourly span roll-ups (span_rollup_hour), backfilled from the stored spans; merges 0006 and 0007.

Revision ID: 0008
Revises: 0006, 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from llmmon.storage.latency_histogram import COLUMNS

revision = "0008"
down_revision = ("0006", "0007")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "span_rollup_hour",
        sa.Column("hour", sa.String(length=13), nullable=False, comment="UTC hour, 'YYYY-MM-DD HH'"),
        sa.Column("kind", sa.String(length=8), nullable=False, comment="trace | llm"),
        sa.Column("model", sa.String(length=256), nullable=False),
        sa.Column("prompt_name", sa.String(length=256), nullable=False),
        sa.Column("prompt_version", sa.String(length=64), nullable=False),
        sa.Column("is_eval", sa.Boolean(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("latency_ms_sum", sa.Float(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("cost_count", sa.Integer(), nullable=False, comment="units with a known cost"),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COLUMNS),
        sa.PrimaryKeyConstraint("hour", "kind", "model", "prompt_name", "prompt_version", "is_eval"),
    )
    # Backfill with the same code that keeps the table up to date (the table layout of this
    # revision is the current one; a later layout change gets its own migration).
    from llmmon.storage import rollups

    rollups.rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table("span_rollup_hour")
