"""eval runs: eval_run and eval_result tables

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "eval_run",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("suite_name", sa.String(length=256), nullable=False),
        sa.Column("suite_hash", sa.String(length=64), nullable=False),
        sa.Column("suite_path", sa.String(length=1024), nullable=True),
        sa.Column("case_hashes", sa.Text(), nullable=False),
        sa.Column("target_label", sa.String(length=512), nullable=False),
        sa.Column("target_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=256), nullable=True),
        sa.Column("git_commit", sa.String(length=64), nullable=True),
        sa.Column("judge_model", sa.String(length=256), nullable=True),
        sa.Column("judge_prompt_hashes", sa.Text(), nullable=False),
        sa.Column("kb_version", sa.String(length=64), nullable=True),
        sa.Column("llmmon_version", sa.String(length=32), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("is_baseline", sa.Boolean(), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rescored_from", sa.String(length=32), nullable=True),
        sa.Column("trials_planned", sa.Integer(), nullable=False),
        sa.Column("trials_run", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("unscored", sa.Integer(), nullable=False),
        sa.Column("chatbot_cost_usd", sa.Float(), nullable=False),
        sa.Column("judge_cost_usd", sa.Float(), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("infrastructure_errors", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("eval_run", schema=None) as batch_op:
        batch_op.create_index("ix_eval_run_suite", ["suite_name", "started_at"], unique=False)

    op.create_table(
        "eval_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=256), nullable=False),
        sa.Column("case_hash", sa.String(length=64), nullable=False),
        sa.Column("repeat_index", sa.Integer(), nullable=False),
        sa.Column("output_key", sa.String(length=64), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("scores", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("total_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("judge_cost_usd", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("infrastructure_error", sa.Text(), nullable=True),
        sa.Column("trace_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["eval_run.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "case_id", "repeat_index", name="uq_eval_result_trial"),
    )
    with op.batch_alter_table("eval_result", schema=None) as batch_op:
        batch_op.create_index("ix_eval_result_output_key", ["output_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_eval_result_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("eval_result", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_eval_result_run_id"))
        batch_op.drop_index("ix_eval_result_output_key")
    op.drop_table("eval_result")
    with op.batch_alter_table("eval_run", schema=None) as batch_op:
        batch_op.drop_index("ix_eval_run_suite")
    op.drop_table("eval_run")
