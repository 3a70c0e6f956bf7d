"""Evaluation worker: eval_job (one job per root trace, leases on the database clock) and judge_score.

Revision ID: 0009
Revises: 0006, 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = ("0006", "0007")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_job",
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("trace_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tier1_done", sa.Boolean(), nullable=False),
        sa.Column("answer_check_id", sa.Integer(), nullable=True),
        sa.Column("judge_state", sa.String(length=16), nullable=False),
        sa.Column("sampled_reason", sa.String(length=64), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("judge_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("trace_id"),
        sa.UniqueConstraint("answer_check_id"),
    )
    with op.batch_alter_table("eval_job", schema=None) as batch_op:
        batch_op.create_index("ix_eval_job_claim", ["status", "priority", "trace_start"], unique=False)
        batch_op.create_index("ix_eval_job_trace_start", ["trace_start"], unique=False)
    op.create_table(
        "judge_score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("judge_model", sa.String(length=256), nullable=True),
        sa.Column("prompt_version", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trace_id", "name", name="uq_judge_score_trace_name"),
    )
    with op.batch_alter_table("judge_score", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_judge_score_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_judge_score_trace_id"), ["trace_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("judge_score", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_judge_score_trace_id"))
        batch_op.drop_index(batch_op.f("ix_judge_score_created_at"))
    op.drop_table("judge_score")
    with op.batch_alter_table("eval_job", schema=None) as batch_op:
        batch_op.drop_index("ix_eval_job_trace_start")
        batch_op.drop_index("ix_eval_job_claim")
    op.drop_table("eval_job")
