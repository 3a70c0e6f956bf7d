"""Tables written by the fact checker: one ``AnswerCheck`` per checked answer, one ``ClaimCheck`` per claim.

Each claim row keeps the evidence behind its verdict (passage ids and character spans as a
JSON string) so that a dashboard can show *why* a claim was judged, not only *that* it was.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

__all__ = ["AnswerCheck", "ClaimCheck"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AnswerCheck(SQLModel, table=True):
    """The verdict on one answer (usually one trace) against one knowledge-base version."""

    __tablename__ = "answer_check"

    id: int | None = Field(default=None, primary_key=True)
    trace_id: str | None = Field(default=None, max_length=32, index=True)
    kb_name: str | None = Field(default=None, max_length=256)
    kb_version: str | None = Field(default=None, max_length=64)
    verdict: str = Field(max_length=16, index=True, description="supported | hallucinated | unverifiable")
    score: float = Field(description="Hallucination score in [0, 1]")
    failure_kind: str | None = Field(
        default=None, max_length=32, description="grounding_failure | retrieval_miss | kb_gap"
    )
    created_at: datetime = Field(default_factory=_utc_now, index=True)


class ClaimCheck(SQLModel, table=True):
    """The verdict on one claim of a checked answer, with the evidence that decided it."""

    __tablename__ = "claim_check"

    id: int | None = Field(default=None, primary_key=True)
    answer_check_id: int = Field(foreign_key="answer_check.id", index=True)
    trace_id: str | None = Field(default=None, max_length=32, index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    start: int
    end: int
    verdict: str = Field(max_length=16, description="supported | contradicted | unverifiable")
    tier: str = Field(max_length=16, description="deterministic | llm")
    evidence: str = Field(
        default="[]", sa_column=Column(Text, nullable=False), description="JSON list of passage ids and spans"
    )
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
