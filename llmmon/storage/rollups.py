"""Maintenance of the hourly span roll-ups (``span_rollup_hour``): incremental and rebuilt.

``add_inserted_spans`` runs inside the transaction of every span insert (the writer thread
and ``POST /v1/traces`` both go through ``llmmon.storage.ingest.insert_span_rows``) with
only the rows that insert actually stored, so a replayed batch is never counted twice. It
groups the rows in Python and sends one ``INSERT ... ON CONFLICT DO UPDATE SET x = x +
excluded.x`` per batch (a handful of rows: one per hour and group).

Every span contributes only its own columns to the roll-up of its own hour: a root span a
trace unit (count, errors, latency, keyed by the root's prompt version), an LLM span an LLM
unit (also tokens and cost, keyed by model and prompt version). Tokens and cost "per trace
group" are therefore summed from LLM units; LLM spans carry the prompt version because
``new_span`` copies the trace's prompt stamp onto spans started after ``prompt.render()``.
No lookup of other spans is needed on the write path, which keeps the writer's throughput.

``rebuild`` recomputes the roll-ups of some hours (or all) from the span table: used by
the migration that creates the table, by purge, and by ``llmmon db`` maintenance.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, delete, literal, or_, select

from llmmon.storage.latency_histogram import BUCKETS, bucket_index
from llmmon.storage.models.rollups import DIMENSIONS, MEASURES, span_rollup_hour
from llmmon.storage.models.tracing import Span

__all__ = [
    "RollupKey",
    "add_inserted_spans",
    "compute_rollups",
    "hour_of",
    "rebuild",
    "stored_rollups",
    "trace_hours",
    "units_of",
    "upsert",
]

RollupKey = tuple[str, str, str, str, str, bool]
_FIXED = 7  # measures before the histogram: count, errors, latency sum, tokens in/out, cost, cost count
_IN_CHUNK = 500  # ids per IN list
_SPAN: Any = Span.__table__  # type: ignore[attr-defined]


def hour_of(value: datetime | str) -> str:
    """The UTC hour bucket 'YYYY-MM-DD HH' of a timestamp (naive values are UTC)."""
    if isinstance(value, str):
        return value[:13].replace("T", " ")
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(UTC)
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}"


def _empty() -> list[float]:
    return [0] * (_FIXED + BUCKETS)


class _Units:
    """Measures per roll-up key, accumulated in Python before one upsert."""

    def __init__(self) -> None:
        self.rows: dict[RollupKey, list[float]] = {}

    def add(self, key: RollupKey, row: Mapping[str, Any], *, usage: bool) -> None:
        """Count ``row`` as one unit of ``key``; with ``usage`` also add its tokens and cost."""
        values = self.rows.get(key)
        if values is None:
            values = self.rows[key] = _empty()
        latency_ms = float(row["latency_ms"])
        values[0] += 1
        values[1] += 1 if row.get("status") == "error" else 0
        values[2] += latency_ms
        values[_FIXED + bucket_index(latency_ms)] += 1
        if usage:
            values[3] += row.get("input_tokens") or 0
            values[4] += row.get("output_tokens") or 0
            cost_usd = row.get("cost_usd")
            if cost_usd is not None:
                values[5] += cost_usd
                values[6] += 1


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _key(row: Mapping[str, Any], kind: str) -> RollupKey:
    """Trace units are keyed by the root's prompt but not its model (a trace may call several
    models; the model breakdown counts LLM calls); LLM units by model and prompt."""
    return (
        hour_of(row["start_time"]),
        kind,
        _text(row.get("model")) if kind == "llm" else "",
        _text(row.get("prompt_name")),
        _text(row.get("prompt_version")),
        bool(row.get("is_eval")),
    )


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield list(values[start : start + _IN_CHUNK])


def _add_row(units: _Units, row: Mapping[str, Any]) -> None:
    """A span's own contribution: a trace unit for a root, an LLM unit (with usage) for an LLM call.

    Each row only ever touches the roll-up of its own hour and its own columns, so adding a
    batch needs no lookup of other spans, and ``rebuild`` of the batch's hours is exact.
    """
    if row.get("parent_span_id") is None:
        units.add(_key(row, "trace"), row, usage=False)
    if row.get("kind") == "llm":
        units.add(_key(row, "llm"), row, usage=True)


def units_of(rows: Iterable[Mapping[str, Any]]) -> dict[RollupKey, list[float]]:
    """What ``rows`` add to the roll-ups, per key (computed ahead by the recorder's serialising
    thread, so the database thread only sends the upsert)."""
    units = _Units()
    for row in rows:
        _add_row(units, row)
    return units.rows


def add_inserted_spans(
    connection: Connection,
    rows: Sequence[Mapping[str, Any]],
    units: Mapping[RollupKey, Sequence[float]] | None = None,
) -> None:
    """Add spans just stored (in this transaction, each once) to the roll-ups: one upsert per
    batch. ``units`` is ``units_of(rows)`` when the caller computed it already."""
    if not rows:
        return
    upsert(connection, units_of(rows) if units is None else units)


def batch_hours(rows: Iterable[Mapping[str, Any]]) -> set[str]:
    """The roll-up hours a batch of span rows contributes to."""
    return {hour_of(row["start_time"]) for row in rows}


@functools.lru_cache(maxsize=4)
def _upsert_statement(dialect: str) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    columns = [*DIMENSIONS, *MEASURES]
    quoted = ", ".join(f'"{c}"' for c in columns)
    updates = ", ".join(f'"{m}" = {span_rollup_hour.name}."{m}" + excluded."{m}"' for m in MEASURES)
    conflict = ", ".join(f'"{d}"' for d in DIMENSIONS)
    return (
        f"INSERT INTO {span_rollup_hour.name} ({quoted}) VALUES ({', '.join(mark for _ in columns)}) "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
    )


def upsert(connection: Connection, rows: Mapping[RollupKey, Sequence[float]]) -> None:
    """Add measures to the roll-up rows of their keys (creating missing rows)."""
    if not rows:
        return
    params = [(*key, *values) for key, values in rows.items()]
    connection.exec_driver_sql(_upsert_statement(connection.dialect.name), params)


# --------------------------------------------------------------------------- rebuild


def _hour_start(hour: str) -> datetime:
    return datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=UTC)


def _hour_ranges(hours: Iterable[str]) -> list[tuple[datetime, datetime]]:
    """Consecutive hours merged into [start, end) ranges."""
    ranges: list[tuple[datetime, datetime]] = []
    for start in sorted(_hour_start(h) for h in set(hours)):
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], start + timedelta(hours=1))
        else:
            ranges.append((start, start + timedelta(hours=1)))
    return ranges


def compute_rollups(connection: Connection, *, hours: Iterable[str] | None = None) -> dict[RollupKey, list[float]]:
    """The roll-ups of ``hours`` (all when None) computed from the span table."""
    span = _SPAN
    if hours is None:
        in_hours: Any = literal(True)
    else:
        ranges = _hour_ranges(hours)
        if not ranges:
            return {}
        in_hours = or_(*(and_(span.c.start_time >= a, span.c.start_time < b) for a, b in ranges))
    names = ("start_time", "kind", "parent_span_id", "model", "prompt_name", "prompt_version", "is_eval",
             "latency_ms", "status", "input_tokens", "output_tokens", "cost_usd")  # fmt: skip
    columns = [span.c[name] for name in names]
    query = select(*columns).where(or_(span.c.kind == "llm", span.c.parent_span_id.is_(None)), in_hours)
    units = _Units()
    for row in connection.execute(query):
        _add_row(units, dict(zip(names, row, strict=True)))
    return units.rows


def trace_hours(connection: Connection, trace_ids: Iterable[str]) -> set[str]:
    """The hours in which any span of these traces started (what a change to them can affect)."""
    ordered = sorted(set(trace_ids))
    hours: set[str] = set()
    for chunk in _chunks(ordered):
        times = connection.execute(select(_SPAN.c.start_time).where(_SPAN.c.trace_id.in_(chunk))).scalars()
        hours.update(hour_of(value) for value in times)
    return hours


def rebuild(connection: Connection, *, hours: Iterable[str] | None = None) -> int:
    """Recompute the roll-ups of ``hours`` (all when None) from the span table; returns rows written."""
    hours = None if hours is None else sorted(set(hours))
    if hours is None:
        connection.execute(delete(span_rollup_hour))
    else:
        for start in range(0, len(hours), _IN_CHUNK):
            connection.execute(
                delete(span_rollup_hour).where(span_rollup_hour.c.hour.in_(hours[start : start + _IN_CHUNK]))
            )
    rows = compute_rollups(connection, hours=hours)
    upsert(connection, rows)
    return len(rows)


def stored_rollups(connection: Connection) -> dict[RollupKey, list[float]]:
    """Every roll-up row as stored (for checks against ``compute_rollups``)."""
    table = span_rollup_hour
    result: dict[RollupKey, list[float]] = {}
    for row in connection.execute(select(table)):
        values = row._mapping
        key: RollupKey = tuple(values[d] for d in DIMENSIONS)
        result[key] = [values[m] for m in MEASURES]
    return result
