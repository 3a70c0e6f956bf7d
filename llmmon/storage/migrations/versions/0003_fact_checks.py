"""fact checks: answer_check and claim_check tables

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-26 10:43:21.445073
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answer_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("kb_name", sa.String(length=256), nullable=True),
        sa.Column("kb_version", sa.String(length=64), nullable=True),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("failure_kind", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("answer_check", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_answer_check_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_answer_check_trace_id"), ["trace_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_answer_check_verdict"), ["verdict"], unique=False)

    op.create_table(
        "claim_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("answer_check_id", sa.Integer(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("start", sa.Integer(), nullable=False),
        sa.Column("end", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["answer_check_id"], ["answer_check.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("claim_check", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_check_answer_check_id"), ["answer_check_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_claim_check_trace_id"), ["trace_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("claim_check", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_check_trace_id"))
        batch_op.drop_index(batch_op.f("ix_claim_check_answer_check_id"))
    op.drop_table("claim_check")
    with op.batch_alter_table("answer_check", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_answer_check_verdict"))
        batch_op.drop_index(batch_op.f("ix_answer_check_trace_id"))
        batch_op.drop_index(batch_op.f("ix_answer_check_created_at"))
    op.drop_table("answer_check")
