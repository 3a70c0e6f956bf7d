"""Hourly roll-ups of spans, kept exact by the span insert itself (``llmmon.storage.rollups``).

One row per (UTC hour, kind, model, prompt name, prompt version, is_eval):

* kind ``trace``: one unit per root span -- its latency and status, and the input/output
  tokens and cost of every LLM span of its trace; the prompt is the trace's (the greatest
  name/version stamped on any of its spans, so a version stamped on the function span also
  counts for its LLM children); model is always ``''`` (the model breakdown counts LLM calls).
* kind ``llm``: one unit per LLM span, with its own model, prompt, tokens and cost.

Missing dimension values are stored as ``''`` (not NULL) so that the primary key is the
upsert's conflict target on both databases. Latencies are counted in the fixed log-scale
histogram of ``llmmon.storage.latency_histogram`` (columns ``h00`` .. ``h91``).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, String, Table
from sqlmodel import SQLModel

from llmmon.storage.latency_histogram import COLUMNS

__all__ = ["DIMENSIONS", "MEASURES", "span_rollup_hour"]

DIMENSIONS: tuple[str, ...] = ("hour", "kind", "model", "prompt_name", "prompt_version", "is_eval")
MEASURES: tuple[str, ...] = (
    "count",
    "errors",
    "latency_ms_sum",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "cost_count",
    *COLUMNS,
)

span_rollup_hour = Table(
    "span_rollup_hour",
    SQLModel.metadata,
    Column("hour", String(13), primary_key=True, comment="UTC hour, 'YYYY-MM-DD HH'"),
    Column("kind", String(8), primary_key=True, comment="trace | llm"),
    Column("model", String(256), primary_key=True),
    Column("prompt_name", String(256), primary_key=True),
    Column("prompt_version", String(64), primary_key=True),
    Column("is_eval", Boolean, primary_key=True),
    Column("count", Integer, nullable=False, default=0),
    Column("errors", Integer, nullable=False, default=0),
    Column("latency_ms_sum", Float, nullable=False, default=0.0),
    Column("input_tokens", BigInteger, nullable=False, default=0),
    Column("output_tokens", BigInteger, nullable=False, default=0),
    Column("cost_usd", Float, nullable=False, default=0.0),
    Column("cost_count", Integer, nullable=False, default=0, comment="units with a known cost"),
    *(Column(name, Integer, nullable=False, default=0) for name in COLUMNS),
)
