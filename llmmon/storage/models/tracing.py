"""Tables written by the tracing recorder: one row per span; a trace is its root span's tree."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

__all__ = ["Span", "SpanBase"]


class SpanBase(SQLModel):
    """Fields shared by the Span table and its API schemas."""

    span_id: str = Field(primary_key=True, max_length=32)
    trace_id: str = Field(max_length=32, index=True)
    # No single-column index: ix_span_root_start (parent_span_id, start_time) serves lookups by parent.
    parent_span_id: str | None = Field(default=None, max_length=32)
    name: str = Field(max_length=256)
    kind: str = Field(default="span", max_length=32, description="function | llm | retriever | tool | chain | span")
    start_time: datetime = Field(index=True)
    end_time: datetime
    latency_ms: float
    ttft_ms: float | None = None
    # No index: few distinct values, and status filters always come with a time range.
    status: str = Field(default="ok", max_length=16)
    error_type: str | None = Field(default=None, max_length=256)
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    input: str | None = Field(default=None, sa_column=Column(Text), description="JSON, redacted, maybe truncated")
    output: str | None = Field(default=None, sa_column=Column(Text), description="JSON, redacted, maybe truncated")
    io_truncated: bool = False
    user_id: str | None = Field(default=None, max_length=256, index=True)
    session_id: str | None = Field(default=None, max_length=256, index=True)
    tags: str | None = Field(default=None, sa_column=Column(Text), description="JSON list of strings")
    attributes: str | None = Field(default=None, sa_column=Column(Text), description="JSON object (metadata)")
    prompt_name: str | None = Field(default=None, max_length=256)
    prompt_version: str | None = Field(default=None, max_length=64)
    prompt_hash: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=256)
    provider: str | None = Field(default=None, max_length=64)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    total_tokens: int | None = None
    tokens_estimated: bool = False
    cost_usd: float | None = None
    is_eval: bool = Field(default=False, description="Spans of llmmon's own judge/eval calls, kept out of app cost")


class Span(SpanBase, table=True):
    """One recorded span. Root spans (no parent) stand for whole traces."""

    __table_args__ = (
        Index("ix_span_root_start", "parent_span_id", "start_time"),
        Index("ix_span_model_start", "model", "start_time"),
        Index("ix_span_prompt_start", "prompt_name", "prompt_version", "start_time"),
    )
