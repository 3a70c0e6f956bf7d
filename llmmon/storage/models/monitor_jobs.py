"""Tables of the evaluation worker: one job per root trace, and the judge's scores per trace.

``eval_job`` is the worker's whole state. A job is claimed under a lease whose expiry is the
*database's* clock (``now()`` / ``CURRENT_TIMESTAMP``), so a worker whose own clock is off can
neither steal a live lease nor keep a dead one. Its primary key (one job per trace) and the
unique ``answer_check_id`` plus ``judge_score``'s (trace_id, name) key make a second score of
the same trace impossible, whatever the workers do.

Job life: ``pending`` -> ``running`` (leased) -> ``done``; back to ``pending`` with a later
``next_attempt_at`` when the judge failed; ``failed`` after ``max_attempts`` crashes.
``judge_state``: ``pending`` (sampled, not judged yet), ``done``, ``skipped`` (not sampled, or
nothing to judge), ``unscored`` (the judge kept failing), ``budget`` (the day's judge budget
was spent: final, never retried).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = ["EvalJob", "JudgeScore"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EvalJob(SQLModel, table=True):
    """The evaluation state of one root trace."""

    __tablename__ = "eval_job"
    __table_args__ = (
        Index("ix_eval_job_claim", "status", "priority", "trace_start"),
        Index("ix_eval_job_trace_start", "trace_start"),
    )

    trace_id: str = Field(primary_key=True, max_length=32)
    trace_start: datetime = Field(description="Start of the trace's root span (the discovery high-water mark)")
    status: str = Field(default="pending", max_length=16, description="pending | running | done | failed")
    tier1_done: bool = Field(default=False, description="The tier-1 fact check is stored")
    answer_check_id: int | None = Field(
        default=None, unique=True, description="The AnswerCheck row the worker wrote (one per trace)"
    )
    judge_state: str = Field(
        default="pending", max_length=16, description="pending | done | skipped | unscored | budget"
    )
    sampled_reason: str | None = Field(
        default=None,
        max_length=64,
        description="Why the judge looks at this trace: error | thumbs_down | tier1_flagged | new_version | "
        "new_model | share (None: not sampled)",
    )
    priority: int = Field(default=0, description="Higher first (thumbs-down traces get EvalPriority's value)")
    attempts: int = Field(default=0, description="Times the job was claimed")
    judge_attempts: int = Field(default=0, description="Times the judge failed on this trace")
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = Field(default=None, description="Database clock")
    next_attempt_at: datetime | None = Field(default=None, description="Database clock; judge retry backoff")
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=_utc_now, description="Database clock")
    updated_at: datetime = Field(default_factory=_utc_now, description="Database clock")


class JudgeScore(SQLModel, table=True):
    """One rubric score the worker's judge gave a trace (at most one per trace and rubric)."""

    __tablename__ = "judge_score"
    __table_args__ = (UniqueConstraint("trace_id", "name", name="uq_judge_score_trace_name"),)

    id: int | None = Field(default=None, primary_key=True)
    trace_id: str = Field(max_length=32, index=True)
    name: str = Field(max_length=64, description="Rubric: faithfulness | relevance | ...")
    value: float | None = Field(default=None, description="[0, 1], 1 is best; None when unscored or skipped")
    passed: bool | None = None
    status: str = Field(max_length=16, description="scored | unscored | skipped")
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    judge_model: str | None = Field(default=None, max_length=256)
    prompt_version: str | None = Field(default=None, max_length=64)
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False), description="JSON object")
    created_at: datetime = Field(default_factory=_utc_now, index=True, description="Database clock")
