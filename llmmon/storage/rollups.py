"""Maintenance of the hourly span roll-ups (``span_rollup_hour``): incremental and rebuilt.

``add_inserted_spans`` runs inside the transaction of every span insert (the writer thread
and ``POST /v1/traces`` both go through ``llmmon.storage.ingest.insert_span_rows``) with
only the rows that insert actually stored, so a replayed batch is never counted twice. It
groups the rows in Python and sends one ``INSERT ... ON CONFLICT DO UPDATE SET x = x +
excluded.x`` per batch (a handful of rows: one per hour and group).

Trace units need their whole trace (tokens and cost of the LLM children, the prompt version
stamped on any span). Children usually finish, and are stored, before their root:

* a root stored now is rolled up with an aggregate over its trace's stored spans, read
  after the insert (so children of the same batch and of earlier batches count);
* an LLM span stored after its root (its root is not in this batch but is stored) adds its
  tokens and cost to that root's trace unit.

Either way every LLM span counts once in its trace. The one approximation: the prompt of
a trace is fixed when its root is stored; a span stored after the root that carries a
greater prompt name/version than any before does not re-key the trace (``rebuild`` would).
Two transactions storing the same trace concurrently may also miss each other's children
(READ COMMITTED on PostgreSQL); the single writer thread never does.

``rebuild`` recomputes the roll-ups of some hours (or all) from the span table: used by
the migration that creates the table, by purge, and by ``llmmon db`` maintenance.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, literal, or_, select
from sqlalchemy.sql import ColumnElement

from llmmon.storage.latency_histogram import BUCKETS, bucket_index
from llmmon.storage.models.rollups import DIMENSIONS, MEASURES, span_rollup_hour
from llmmon.storage.models.tracing import Span

__all__ = [
    "PROMPT_SEPARATOR",
    "RollupKey",
    "add_inserted_spans",
    "compute_rollups",
    "hour_of",
    "rebuild",
    "stored_rollups",
    "trace_hours",
    "upsert",
]

RollupKey = tuple[str, str, str, str, str, bool]
PROMPT_SEPARATOR = "\x1f"  # between prompt name and version in the trace's prompt key
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

    def add(
        self,
        key: RollupKey,
        *,
        latency_ms: float | None,
        error: bool,
        input_tokens: int | None,
        output_tokens: int | None,
        cost_usd: float | None,
        cost_count: int | None = None,
    ) -> None:
        """One unit (``latency_ms`` given) or only usage added to a unit counted before (None)."""
        values = self.rows.get(key)
        if values is None:
            values = self.rows[key] = _empty()
        if latency_ms is not None:
            values[0] += 1
            values[1] += 1 if error else 0
            values[2] += latency_ms
            values[_FIXED + bucket_index(latency_ms)] += 1
        values[3] += input_tokens or 0
        values[4] += output_tokens or 0
        if cost_usd is not None:
            values[5] += cost_usd
            values[6] += 1 if cost_count is None else cost_count


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _llm_key(row: Mapping[str, Any]) -> RollupKey:
    return (
        hour_of(row["start_time"]),
        "llm",
        _text(row.get("model")),
        _text(row.get("prompt_name")),
        _text(row.get("prompt_version")),
        bool(row.get("is_eval")),
    )


def _trace_key(hour: str, is_eval: bool, prompt: str | None) -> RollupKey:
    """Trace units are keyed by prompt, not model (a trace may call several models; the model
    breakdown counts LLM calls), so only a late prompt stamp could re-key a trace."""
    name, _, version = (prompt or "").partition(PROMPT_SEPARATOR)
    return (hour, "trace", "", name, version, bool(is_eval))


def _trace_totals(where: Callable[[Any], ColumnElement[bool]]) -> Any:
    """Per trace (of the spans matching ``where(member)``): LLM tokens and cost, and prompt key."""
    member = _SPAN.alias("member")
    llm = member.c.kind == "llm"
    prompt = member.c.prompt_name + literal(PROMPT_SEPARATOR) + member.c.prompt_version
    return (
        select(
            member.c.trace_id.label("trace_id"),
            func.sum(case((llm, member.c.input_tokens))).label("input_tokens"),
            func.sum(case((llm, member.c.output_tokens))).label("output_tokens"),
            func.sum(case((llm, member.c.cost_usd))).label("cost_usd"),
            func.count(case((llm, member.c.cost_usd))).label("cost_count"),
            func.max(prompt).label("prompt"),
        )
        .where(where(member))
        .group_by(member.c.trace_id)
    )


def _in_traces(trace_ids: list[str]) -> Callable[[Any], ColumnElement[bool]]:
    def where(member: Any) -> ColumnElement[bool]:
        return member.c.trace_id.in_(trace_ids)  # type: ignore[no-any-return]

    return where


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield list(values[start : start + _IN_CHUNK])


def add_inserted_spans(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add spans just stored (in this transaction, each once) to the roll-ups."""
    if not rows:
        return
    units = _Units()
    roots: dict[str, Mapping[str, Any]] = {}
    late_llm: list[Mapping[str, Any]] = []
    for row in rows:
        if row.get("parent_span_id") is None:
            roots[row["trace_id"]] = row
        if row.get("kind") == "llm":
            units.add(
                _llm_key(row),
                latency_ms=float(row["latency_ms"]),
                error=row.get("status") == "error",
                input_tokens=row.get("input_tokens"),
                output_tokens=row.get("output_tokens"),
                cost_usd=row.get("cost_usd"),
            )
            late_llm.append(row)
    late_llm = [row for row in late_llm if row["trace_id"] not in roots]
    if roots:
        _add_roots(connection, units, [row for row in rows if row.get("parent_span_id") is None])
    if late_llm:
        _add_late_children(connection, units, late_llm)
    upsert(connection, units.rows)


def _add_roots(connection: Connection, units: _Units, roots: list[Mapping[str, Any]]) -> None:
    totals: dict[str, Any] = {}
    for chunk in _chunks(sorted({row["trace_id"] for row in roots})):
        query = _trace_totals(_in_traces(chunk))
        totals.update({r.trace_id: r for r in connection.execute(query)})
    for row in roots:
        total = totals.get(row["trace_id"])
        units.add(
            _trace_key(hour_of(row["start_time"]), row.get("is_eval", False), total and total.prompt),
            latency_ms=float(row["latency_ms"]),
            error=row.get("status") == "error",
            input_tokens=total.input_tokens if total else None,
            output_tokens=total.output_tokens if total else None,
            cost_usd=total.cost_usd if total else None,
            cost_count=total.cost_count if total else None,
        )


def _add_late_children(connection: Connection, units: _Units, children: list[Mapping[str, Any]]) -> None:
    """LLM spans whose root was stored before them: their usage goes to that root's trace unit."""
    trace_ids = sorted({row["trace_id"] for row in children})
    stored_roots: dict[str, Any] = {}
    for chunk in _chunks(trace_ids):
        query = select(_SPAN.c.trace_id, _SPAN.c.start_time, _SPAN.c.is_eval).where(
            _SPAN.c.parent_span_id.is_(None), _SPAN.c.trace_id.in_(chunk)
        )
        for root in connection.execute(query):
            stored_roots.setdefault(root.trace_id, []).append(root)
    if not stored_roots:
        return
    totals: dict[str, Any] = {}
    for chunk in _chunks(sorted(stored_roots)):
        query = _trace_totals(_in_traces(chunk))
        totals.update({r.trace_id: r for r in connection.execute(query)})
    for row in children:
        total = totals.get(row["trace_id"])
        for root in stored_roots.get(row["trace_id"], ()):
            units.add(
                _trace_key(hour_of(root.start_time), root.is_eval, total and total.prompt),
                latency_ms=None,
                error=False,
                input_tokens=row.get("input_tokens"),
                output_tokens=row.get("output_tokens"),
                cost_usd=row.get("cost_usd"),
            )


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
    units = _Units()
    llm_query = select(
        span.c.start_time,
        span.c.model,
        span.c.prompt_name,
        span.c.prompt_version,
        span.c.is_eval,
        span.c.latency_ms,
        span.c.status,
        span.c.input_tokens,
        span.c.output_tokens,
        span.c.cost_usd,
    ).where(span.c.kind == "llm", in_hours)
    for llm_row in connection.execute(llm_query).mappings():
        row = dict(llm_row)
        units.add(
            _llm_key(row),
            latency_ms=float(row["latency_ms"]),
            error=row["status"] == "error",
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            cost_usd=row["cost_usd"],
        )
    roots = select(span.c.trace_id).where(span.c.parent_span_id.is_(None), in_hours)
    totals = _trace_totals(lambda member: member.c.trace_id.in_(roots)).subquery("totals")
    root_query = (
        select(span.c.start_time, span.c.is_eval, span.c.latency_ms, span.c.status, totals)
        .join(totals, totals.c.trace_id == span.c.trace_id)
        .where(span.c.parent_span_id.is_(None), in_hours)
    )
    for root in connection.execute(root_query):
        units.add(
            _trace_key(hour_of(root.start_time), root.is_eval, root.prompt),
            latency_ms=float(root.latency_ms),
            error=root.status == "error",
            input_tokens=root.input_tokens,
            output_tokens=root.output_tokens,
            cost_usd=root.cost_usd,
            cost_count=root.cost_count,
        )
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
