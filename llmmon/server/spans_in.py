"""Spans posted to the server: the ``POST /v1/traces`` schema and its conversion to ``span`` rows.

The schema is the recorder's row schema (``llmmon.tracing.serialise.SPAN_COLUMNS``), so the
SDK in remote mode posts exactly what it would have inserted. Other clients may send
``input``/``output``/``attributes`` as JSON values instead of JSON strings, naive
timestamps (taken as UTC), and may omit ``end_time``/``latency_ms`` (one is derived from
the other). Cost is priced on the server when a span has a model and tokens but no cost.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["MAX_SPANS_PER_BATCH", "SpanBatch", "SpanIn", "span_rows"]

MAX_SPANS_PER_BATCH = 10_000

Id = Annotated[str, Field(min_length=1, max_length=32)]
Tokens = Annotated[int, Field(ge=0, le=2**40)]


class SpanIn(BaseModel):
    """One span in the recorder's row schema."""

    model_config = ConfigDict(extra="forbid")

    span_id: Id
    trace_id: Id
    parent_span_id: Id | None = None
    name: str = Field(min_length=1, max_length=256)
    kind: str = Field(default="span", max_length=32)
    start_time: dt.datetime
    end_time: dt.datetime | None = None
    latency_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    ttft_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    status: str = Field(default="ok", max_length=16)
    error_type: str | None = Field(default=None, max_length=256)
    error_message: str | None = None
    input: Any = None
    output: Any = None
    io_truncated: bool = False
    user_id: str | None = Field(default=None, max_length=256)
    session_id: str | None = Field(default=None, max_length=256)
    tags: list[str] | str | None = None
    attributes: dict[str, Any] | str | None = None
    prompt_name: str | None = Field(default=None, max_length=256)
    prompt_version: str | None = Field(default=None, max_length=64)
    prompt_hash: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=256)
    provider: str | None = Field(default=None, max_length=64)
    input_tokens: Tokens | None = None
    output_tokens: Tokens | None = None
    cached_tokens: Tokens | None = None
    reasoning_tokens: Tokens | None = None
    total_tokens: Tokens | None = None
    tokens_estimated: bool = False
    cost_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    is_eval: bool = False

    @model_validator(mode="after")
    def _end_or_latency(self) -> SpanIn:
        if self.end_time is None and self.latency_ms is None:
            raise ValueError("give end_time or latency_ms")
        return self


class SpanBatch(BaseModel):
    """A batch of spans; idempotent by ``span_id`` (spans already stored are skipped)."""

    model_config = ConfigDict(extra="forbid")

    spans: list[SpanIn] = Field(max_length=MAX_SPANS_PER_BATCH)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def span_rows(spans: list[SpanIn]) -> list[dict[str, Any]]:
    """``span`` rows (every column present) for ``llmmon.storage.ingest.insert_span_rows``."""
    rows = []
    for span in spans:
        row = span.__dict__.copy()  # the validated field values, without model_dump's cost
        start = _utc(span.start_time)
        if span.end_time is not None:
            end = _utc(span.end_time)
            latency = span.latency_ms if span.latency_ms is not None else max(0.0, (end - start).total_seconds() * 1e3)
        else:
            latency = float(span.latency_ms or 0.0)
            end = start + dt.timedelta(milliseconds=latency)
        row["start_time"] = start
        row["end_time"] = end
        row["latency_ms"] = latency
        row["input"] = _json_text(span.input)
        row["output"] = _json_text(span.output)
        row["tags"] = _json_text(span.tags)
        row["attributes"] = _json_text(span.attributes)
        rows.append(row)
    return rows
