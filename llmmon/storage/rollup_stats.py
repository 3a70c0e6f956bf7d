"""The dashboard's numbers over time and per group, read from the hourly roll-ups.

``overview_series`` (per day or hour) and ``breakdown`` (per model or prompt version) sum
rows of ``span_rollup_hour`` -- a few rows per hour instead of every span -- so their cost
grows with the time range in hours, not with the traffic. What is exact and what is not:

* counts, errors, tokens and cost are exact sums;
* latency percentiles come from the roll-ups' log-scale histogram and are within
  ``latency_histogram.RELATIVE_ERROR`` (~9 %) of ``numpy.percentile`` (each row says so in
  ``percentiles_approximate`` / ``percentile_relative_error``); ``llmmon stats`` and
  ``GET /v1/stats`` keep the exact window-function percentiles;
* a time window is rounded outwards to whole UTC hours;
* hallucination and thumbs-down counts are exact (``quality_stats``).

Overview and the prompt-version breakdown count traces (root latency and status, keyed by the
root's prompt version) and add the tokens and cost of the LLM calls in the same hour and prompt
version; the model breakdown counts LLM calls.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine, func, select
from sqlalchemy.sql import ColumnElement

from llmmon.errors import ConfigError
from llmmon.storage import latency_histogram
from llmmon.storage.models.rollups import span_rollup_hour
from llmmon.storage.quality_stats import apply_quality, quality_counts
from llmmon.storage.repo import _connect
from llmmon.storage.rollups import hour_of

__all__ = ["BUCKETS", "BreakdownRow", "Bucket", "Dimension", "SeriesPoint", "breakdown", "overview_series"]

Bucket = Literal["day", "hour"]
BUCKETS: tuple[Bucket, ...] = ("day", "hour")
Dimension = Literal["model", "prompt_version"]
_SUMMED = ("count", "errors", "input_tokens", "output_tokens", "cost_usd", "cost_count")


class _Approximation(BaseModel):
    percentiles_approximate: bool = True
    percentile_relative_error: float = latency_histogram.RELATIVE_ERROR


class _Aggregates(_Approximation):
    """The measures a time bucket and a breakdown row share."""

    errors: int
    error_rate: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    checked: int = 0
    hallucinated: int = 0
    hallucination_rate: float | None = None
    voted: int = 0
    thumbs_down: int = 0
    thumbs_down_rate: float | None = None


class SeriesPoint(_Aggregates):
    """Aggregates of the traces that started in one day or hour."""

    bucket: str
    traces: int


class BreakdownRow(_Aggregates):
    """Aggregates of one model (its LLM calls) or prompt version (its traces), plus quality rates."""

    key: str | None
    calls: int


def _hour_window(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    """Roll-up hours overlapping [since, until)."""
    table = span_rollup_hour
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(table.c.hour >= hour_of(since))
    if until is not None:
        conditions.append(table.c.hour <= hour_of(until - timedelta(microseconds=1)))
    return conditions


def _summed_rows(
    engine: Engine, *, kind: str, key: ColumnElement[Any], since: datetime | None, until: datetime | None,
    present: ColumnElement[bool] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Sums of the measures and histogram columns of the roll-up rows per ``key``."""
    table = span_rollup_hour
    columns = [func.sum(table.c[name]).label(name) for name in (*_SUMMED, *latency_histogram.COLUMNS)]
    conditions = [table.c.kind == kind, table.c.is_eval.is_(False), *_hour_window(since, until)]
    if present is not None:
        conditions.append(present)
    query = select(key.label("key"), *columns).where(*conditions).group_by(key).order_by(key)
    with _connect(engine) as connection:
        rows = [dict(row) for row in connection.execute(query).mappings() if row["count"]]
        if kind == "trace":
            _add_llm_usage(connection, rows, key=key, conditions=conditions[1:])
    return rows


_USAGE = ("input_tokens", "output_tokens", "cost_usd", "cost_count")


def _add_llm_usage(connection: Any, rows: list[dict[str, Any]], *, key: ColumnElement[Any],
                   conditions: list[ColumnElement[bool]]) -> None:  # fmt: skip
    """Tokens and cost of trace groups: summed over the LLM-call units with the same key
    (LLM spans carry their trace's prompt version; trace units carry no usage)."""
    table = span_rollup_hour
    columns = [func.sum(table.c[name]).label(name) for name in _USAGE]
    query = select(key.label("key"), *columns).where(table.c.kind == "llm", *conditions).group_by(key)
    usage = {row["key"]: row for row in connection.execute(query).mappings()}
    for row in rows:
        found = usage.get(row["key"])
        for name in _USAGE:
            row[name] = found[name] if found is not None else 0


def _measures(row: dict[str, Any]) -> dict[str, Any]:
    histogram = [int(row[name] or 0) for name in latency_histogram.COLUMNS]
    count = int(row["count"])
    errors = int(row["errors"] or 0)
    percentiles = {f"p{q}_ms": latency_histogram.percentile(histogram, q) or 0.0 for q in (50, 90, 99)}
    return {
        "errors": errors,
        "error_rate": errors / count,
        **percentiles,
        "input_tokens": int(row["input_tokens"] or 0),
        "output_tokens": int(row["output_tokens"] or 0),
        "cost_usd": float(row["cost_usd"]) if row["cost_count"] else None,
    }


def overview_series(
    engine: Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: Bucket = "day",
) -> list[SeriesPoint]:
    """Per day or hour: traces, errors, root latency percentiles, the traces' tokens and cost, quality rates."""
    if bucket not in BUCKETS:
        raise ConfigError(f"unknown bucket {bucket!r}; choose one of {', '.join(BUCKETS)}")
    key = func.substr(span_rollup_hour.c.hour, 1, 10 if bucket == "day" else 13)
    rows = _summed_rows(engine, kind="trace", key=key, since=since, until=until)
    quality = quality_counts(engine, key=bucket, since=since, until=until)
    points: list[SeriesPoint] = []
    for row in rows:
        point = SeriesPoint(bucket=row["key"], traces=int(row["count"]), **_measures(row))
        apply_quality(point, quality.get(row["key"]))
        points.append(point)
    return points


def breakdown(
    engine: Engine,
    *,
    by: Dimension,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[BreakdownRow]:
    """Per model (its LLM calls) or prompt version (its traces): volume, errors, latency, tokens, cost, quality."""
    table = span_rollup_hour
    if by == "model":
        rows = _summed_rows(
            engine, kind="llm", key=table.c.model, since=since, until=until, present=table.c.model != ""
        )
    elif by == "prompt_version":
        key = table.c.prompt_name + " " + table.c.prompt_version
        rows = _summed_rows(
            engine, kind="trace", key=key, since=since, until=until, present=table.c.prompt_version != ""
        )
    else:
        raise ConfigError(f"cannot break down by {by!r}; choose model or prompt_version")
    quality = quality_counts(engine, key=by, since=since, until=until)
    result: list[BreakdownRow] = []
    for row in rows:
        item = BreakdownRow(key=row["key"], calls=int(row["count"]), **_measures(row))
        apply_quality(item, quality.get(row["key"]))
        result.append(item)
    return result
