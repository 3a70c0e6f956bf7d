"""Eval runs and their per-case results: what ``llmmon eval run`` stores and the gate compares.

An ``EvalRun`` carries the fingerprints that decide whether two runs are comparable (suite hash,
case hashes, target, judge model and prompt hashes, KB version, llmmon version); an
``EvalResult`` is one repeat of one case: the target's output, the assertion scores as JSON,
and what the call cost. JSON payloads are Text so SQLite and PostgreSQL behave the same.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = ["EvalResult", "EvalRun"]


class EvalRun(SQLModel, table=True):
    """One run of one suite against one target; at most one per suite is the promoted baseline."""

    __tablename__ = "eval_run"
    __table_args__ = (Index("ix_eval_run_suite", "suite_name", "started_at"),)

    id: str = Field(primary_key=True, max_length=32, description="run id, e.g. run-20261127-1a2b3c")
    suite_name: str = Field(max_length=256)
    suite_hash: str = Field(max_length=64)
    suite_path: str | None = Field(default=None, max_length=1024)
    case_hashes: str = Field(sa_column=Column(Text, nullable=False), description="JSON {case_id: case_hash}")
    target_label: str = Field(max_length=512, description="what was called, e.g. pkg.mod:fn or a URL")
    target_fingerprint: str = Field(max_length=64)
    label: str | None = Field(default=None, max_length=256, description="the --label of the run (e.g. v4)")
    git_commit: str | None = Field(default=None, max_length=64)
    judge_model: str | None = Field(default=None, max_length=256)
    judge_prompt_hashes: str = Field(
        sa_column=Column(Text, nullable=False), description="JSON {prompt name: hash} of the judge prompts"
    )
    kb_version: str | None = Field(default=None, max_length=64)
    llmmon_version: str = Field(max_length=32)
    repeats: int = 1
    started_at: datetime
    finished_at: datetime | None = None
    status: str = Field(max_length=16, description="running | complete | incomplete | aborted")
    stop_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    is_baseline: bool = False
    promoted_at: datetime | None = None
    rescored_from: str | None = Field(default=None, max_length=32, description="run whose outputs were re-judged")
    trials_planned: int = 0
    trials_run: int = 0
    passed: int = 0
    failed: int = 0
    unscored: int = 0
    chatbot_cost_usd: float = 0.0
    judge_cost_usd: float = 0.0
    decision: str | None = Field(default=None, max_length=32)
    exit_code: int | None = None
    infrastructure_errors: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class EvalResult(SQLModel, table=True):
    """One repeat of one case in one run."""

    __tablename__ = "eval_result"
    __table_args__ = (
        UniqueConstraint("run_id", "case_id", "repeat_index", name="uq_eval_result_trial"),
        Index("ix_eval_result_output_key", "output_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="eval_run.id", max_length=32, index=True)
    case_id: str = Field(max_length=256)
    case_hash: str = Field(max_length=64)
    repeat_index: int = 0
    output_key: str = Field(max_length=64, description="hash of case input + target fingerprint + repeat")
    output: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    scores: str = Field(sa_column=Column(Text, nullable=False), description="JSON list of assertion scores")
    verdict: str = Field(max_length=16, description="passed | failed | unscored")
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    judge_cost_usd: float = 0.0
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    infrastructure_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    trace_id: str | None = Field(default=None, max_length=64)
    created_at: datetime
