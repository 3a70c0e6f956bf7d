"""Read queries and maintenance over recorded spans: trace lists, span trees, stats, purge.

Writes of new spans live in ``ingest.py`` (the recorder's writer). Everything here takes an
``Engine`` and keyword-only filters, runs SQL that behaves the same on SQLite and PostgreSQL,
and returns pydantic values that the CLI, the server and the monitor can print or serialise.

Aggregations stay in SQL: latency percentiles are computed with ``ROW_NUMBER()`` and
``COUNT()`` window functions (both databases have them; SQLite has no ``percentile_cont``)
using the same linear interpolation as ``numpy.percentile``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    Engine,
    Float,
    Integer,
    Table,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.elements import KeyedColumnElement
from sqlmodel import SQLModel

from llmmon.errors import ConfigError, StorageError
from llmmon.storage import rollups
from llmmon.storage.models import Span

__all__ = [
    "GROUP_BY",
    "PurgeResult",
    "SpanNode",
    "SpanPublic",
    "StatsRow",
    "TraceSummary",
    "TracesPage",
    "get_trace",
    "list_traces",
    "prompt_hashes",
    "purge",
    "span_stats",
]

GroupBy = Literal["model", "prompt_version", "day"]
GROUP_BY: tuple[GroupBy, ...] = ("model", "prompt_version", "day")

# Percentiles as per-mille ranks, so the rank arithmetic stays in integers on both databases.
_PERCENTILES = {"p50_ms": 500, "p90_ms": 900, "p99_ms": 990}
_PURGE_BATCH = 500


class SpanPublic(BaseModel):
    """One stored span as the CLI and API show it."""

    model_config = ConfigDict(from_attributes=True)

    span_id: str
    trace_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_time: datetime
    end_time: datetime
    latency_ms: float
    ttft_ms: float | None
    status: str
    error_type: str | None
    error_message: str | None
    input: str | None
    output: str | None
    io_truncated: bool
    user_id: str | None
    session_id: str | None
    tags: str | None
    attributes: str | None
    prompt_name: str | None
    prompt_version: str | None
    prompt_hash: str | None
    model: str | None
    provider: str | None
    input_tokens: int | None
    output_tokens: int | None
    cached_tokens: int | None
    reasoning_tokens: int | None
    total_tokens: int | None
    tokens_estimated: bool
    cost_usd: float | None
    is_eval: bool


class SpanNode(BaseModel):
    """A span with its children, for ``traces show``."""

    span: SpanPublic
    children: list[SpanNode] = []


class TraceSummary(BaseModel):
    """One trace in a list: its root span plus totals over all its spans."""

    trace_id: str
    name: str
    start_time: datetime
    latency_ms: float
    status: str
    error_type: str | None
    user_id: str | None
    session_id: str | None
    span_count: int
    model: str | None
    prompt_name: str | None
    prompt_version: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None


class TracesPage(BaseModel):
    """A page of traces plus the number of traces matching the filters."""

    data: list[TraceSummary]
    count: int
    limit: int
    offset: int


class StatsRow(BaseModel):
    """Aggregates for one group (a model, a prompt version or a day)."""

    key: str | None
    count: int
    errors: int
    error_rate: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float | None


class PurgeResult(BaseModel):
    """What a purge deleted: traces, and rows per table (span included)."""

    traces: int
    rows: dict[str, int]


# --------------------------------------------------------------------------- traces


def _trace_filters(
    root: Any,
    *,
    since: datetime | None,
    until: datetime | None,
    name: str | None,
    status: str | None,
    model: str | None,
    prompt_name: str | None,
    prompt_version: str | None,
    user_id: str | None,
    session_id: str | None,
    include_eval: bool,
    search: str | None = None,
) -> list[ColumnElement[bool]]:
    """Conditions on the root span ``root`` (a span table alias); model and prompt match any span."""
    root = root.c
    conditions: list[ColumnElement[bool]] = [root.parent_span_id.is_(None)]
    if since is not None:
        conditions.append(root.start_time >= since)
    if until is not None:
        conditions.append(root.start_time < until)
    if name is not None:
        conditions.append(root.name == name)
    if status is not None:
        conditions.append(root.status == status)
    if user_id is not None:
        conditions.append(root.user_id == user_id)
    if session_id is not None:
        conditions.append(root.session_id == session_id)
    if not include_eval:
        conditions.append(root.is_eval.is_(False))
    if search:
        # Payloads are JSON text: the writer keeps non-ASCII text as is (ensure_ascii=False), but
        # spans sent by other clients may escape it ("\\ud658"); match either spelling.
        spellings = dict.fromkeys([search, json.dumps(search)[1:-1]])
        patterns = [
            "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for text in spellings
        ]
        conditions.append(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (root.name, root.input, root.output, root.error_message)
                    for pattern in patterns
                )
            )
        )
    inner = Span.__table__.alias("inner_span")  # type: ignore[attr-defined]
    if model is not None:
        conditions.append(exists().where(inner.c.trace_id == root.trace_id, inner.c.model == model))
    if prompt_name is not None:
        conditions.append(exists().where(inner.c.trace_id == root.trace_id, inner.c.prompt_name == prompt_name))
    if prompt_version is not None:
        conditions.append(exists().where(inner.c.trace_id == root.trace_id, inner.c.prompt_version == prompt_version))
    return conditions


def list_traces(
    engine: Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    name: str | None = None,
    status: str | None = None,
    model: str | None = None,
    prompt_name: str | None = None,
    prompt_version: str | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
    include_eval: bool = False,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> TracesPage:
    """Traces (root spans) newest first, with span counts, tokens and cost over the whole trace.

    ``search``: case-insensitive substring of the root span's name, input, output or error message.
    """
    if limit < 1 or offset < 0:
        raise ConfigError(f"limit must be >= 1 and offset >= 0 (got limit={limit}, offset={offset})")
    root = Span.__table__.alias("root")  # type: ignore[attr-defined]
    conditions = _trace_filters(
        root,
        since=since,
        until=until,
        name=name,
        status=status,
        model=model,
        prompt_name=prompt_name,
        prompt_version=prompt_version,
        user_id=user_id,
        session_id=session_id,
        include_eval=include_eval,
        search=search,
    )
    member = Span.__table__.alias("member")  # type: ignore[attr-defined]
    totals = (
        select(
            member.c.trace_id.label("trace_id"),
            func.count().label("span_count"),
            func.max(member.c.model).label("model"),
            func.max(member.c.prompt_name).label("prompt_name"),
            func.max(member.c.prompt_version).label("prompt_version"),
            func.sum(case((member.c.kind == "llm", member.c.input_tokens))).label("input_tokens"),
            func.sum(case((member.c.kind == "llm", member.c.output_tokens))).label("output_tokens"),
            func.sum(member.c.cost_usd).label("cost_usd"),
        )
        .where(member.c.trace_id.in_(select(root.c.trace_id).where(*conditions)))
        .group_by(member.c.trace_id)
        .subquery("totals")
    )
    query = (
        select(
            root.c.trace_id,
            root.c.name,
            root.c.start_time,
            root.c.latency_ms,
            root.c.status,
            root.c.error_type,
            root.c.user_id,
            root.c.session_id,
            totals.c.span_count,
            totals.c.model,
            totals.c.prompt_name,
            totals.c.prompt_version,
            totals.c.input_tokens,
            totals.c.output_tokens,
            totals.c.cost_usd,
        )
        .join(totals, totals.c.trace_id == root.c.trace_id)
        .where(*conditions)
        .order_by(root.c.start_time.desc(), root.c.trace_id)
        .limit(limit)
        .offset(offset)
    )
    count_query = select(func.count()).select_from(root).where(*conditions)
    with _connect(engine) as connection:
        rows = connection.execute(query).mappings().all()
        total = connection.execute(count_query).scalar_one()
    data = [TraceSummary.model_validate(dict(row)) for row in rows]
    return TracesPage(data=data, count=total, limit=limit, offset=offset)


def get_trace(engine: Engine, trace_id: str) -> list[SpanNode]:
    """The span tree of one trace (roots first, children by start time).

    ``trace_id`` may be a unique prefix of at least 6 characters. Raises ``StorageError`` when no
    trace or more than one trace matches.
    """
    table = Span.__table__  # type: ignore[attr-defined]
    with _connect(engine) as connection:
        resolved = connection.execute(
            select(table.c.trace_id).where(table.c.trace_id == trace_id).limit(1)
        ).scalar_one_or_none()
        if resolved is None and len(trace_id) >= 6:
            escaped = trace_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            candidates = (
                connection.execute(
                    select(table.c.trace_id)
                    .where(table.c.trace_id.like(escaped + "%", escape="\\"))
                    .distinct()
                    .limit(2)
                )
                .scalars()
                .all()
            )
            if len(candidates) > 1:
                raise StorageError(f"trace id prefix {trace_id!r} matches several traces; give more characters")
            resolved = candidates[0] if candidates else None
        if resolved is None:
            raise StorageError(f"no trace with id {trace_id!r}")
        rows = connection.execute(
            select(table).where(table.c.trace_id == resolved).order_by(table.c.start_time, table.c.span_id)
        ).mappings()
        spans = [SpanPublic.model_validate(dict(row)) for row in rows]
    nodes = {span.span_id: SpanNode(span=span) for span in spans}
    roots: list[SpanNode] = []
    for span in spans:
        parent = nodes.get(span.parent_span_id) if span.parent_span_id else None
        if parent is None:
            roots.append(nodes[span.span_id])  # a root, or an orphan whose parent was not stored
        else:
            parent.children.append(nodes[span.span_id])
    return roots


# --------------------------------------------------------------------------- stats


def _window(
    table: Any, *, since: datetime | None, until: datetime | None, name: str | None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(table.c.start_time >= since)
    if until is not None:
        conditions.append(table.c.start_time < until)
    if name is not None:
        conditions.append(table.c.name == name)
    return conditions


def _units(
    group_by: GroupBy, engine: Engine, *, since: datetime | None, until: datetime | None, name: str | None
) -> Select[Any]:
    """One row per unit being measured, with its group key.

    ``model``: every LLM call (a span with a model). ``prompt_version`` and ``day``: every trace
    (its root span's latency and status, tokens and cost summed over its LLM spans, and the prompt
    version stamped on any of its spans).
    """
    span = Span.__table__  # type: ignore[attr-defined]
    if group_by == "model":
        return select(
            span.c.model.label("key"),
            span.c.latency_ms.label("latency_ms"),
            span.c.status.label("status"),
            span.c.input_tokens.label("input_tokens"),
            span.c.output_tokens.label("output_tokens"),
            span.c.total_tokens.label("total_tokens"),
            span.c.cost_usd.label("cost_usd"),
        ).where(
            span.c.model.is_not(None),
            span.c.is_eval.is_(False),
            *_window(span, since=since, until=until, name=name),
        )
    member = span.alias("member")
    root = span.alias("root")
    llm = member.c.kind == "llm"
    totals = (
        select(
            member.c.trace_id.label("trace_id"),
            func.max(
                case(
                    (
                        member.c.prompt_version.is_not(None),
                        member.c.prompt_name + literal(" ") + member.c.prompt_version,
                    )
                )
            ).label("prompt_key"),
            func.sum(case((llm, member.c.input_tokens))).label("input_tokens"),
            func.sum(case((llm, member.c.output_tokens))).label("output_tokens"),
            func.sum(case((llm, member.c.total_tokens))).label("total_tokens"),
            func.sum(member.c.cost_usd).label("cost_usd"),
        )
        .where(member.c.is_eval.is_(False))
        .group_by(member.c.trace_id)
        .subquery("totals")
    )
    key: ColumnElement[Any] = totals.c.prompt_key if group_by == "prompt_version" else _day(engine, root.c.start_time)
    root_conditions = _window(root, since=since, until=until, name=name)
    return (
        select(
            key.label("key"),
            root.c.latency_ms.label("latency_ms"),
            root.c.status.label("status"),
            totals.c.input_tokens,
            totals.c.output_tokens,
            totals.c.total_tokens,
            totals.c.cost_usd,
        )
        .join(totals, totals.c.trace_id == root.c.trace_id)
        .where(root.c.parent_span_id.is_(None), root.c.is_eval.is_(False), *root_conditions)
    )


def _day(engine: Engine, column: KeyedColumnElement[Any]) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp, as 'YYYY-MM-DD' text on both databases."""
    if engine.dialect.name == "sqlite":
        # SQLite stores the UTC timestamp as ISO text; its first 10 characters are the day.
        return func.substr(column, 1, 10)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def span_stats(
    engine: Engine,
    *,
    group_by: GroupBy = "model",
    since: datetime | None = None,
    until: datetime | None = None,
    name: str | None = None,
) -> list[StatsRow]:
    """Count, error rate, p50/p90/p99 latency, tokens and cost per group, computed in SQL.

    Percentiles interpolate linearly between closest ranks, exactly like ``numpy.percentile``.
    """
    if group_by not in GROUP_BY:
        raise ConfigError(f"cannot group by {group_by!r}; choose one of {', '.join(GROUP_BY)}")
    units = _units(group_by, engine, since=since, until=until, name=name).subquery("units")
    ranked = select(
        units,
        func.row_number().over(partition_by=units.c.key, order_by=units.c.latency_ms).label("rn"),
        func.count().over(partition_by=units.c.key).label("n"),
    ).subquery("ranked")
    n = cast(ranked.c.n, Integer)
    rank = cast(ranked.c.rn, Integer)
    percentile_columns = []
    for label, per_mille in _PERCENTILES.items():
        # numpy: h = (n-1)*p; value = x[floor(h)] + (h - floor(h)) * (x[floor(h)+1] - x[floor(h)]).
        # In 1-based ranks: weight (1-frac) on rank floor(h)+1 and frac on rank floor(h)+2.
        scaled = (n - 1) * per_mille
        low = scaled // 1000
        frac = cast(scaled % 1000, Float) / 1000.0
        weight = case(
            (rank == low + 1, 1.0 - frac),
            (rank == low + 2, frac),
            else_=0.0,
        )
        percentile_columns.append(func.sum(ranked.c.latency_ms * weight).label(label))
    errors = func.sum(case((ranked.c.status == "error", 1), else_=0))
    query = (
        select(
            ranked.c.key,
            func.count().label("count"),
            errors.label("errors"),
            *percentile_columns,
            func.coalesce(func.sum(ranked.c.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(ranked.c.output_tokens), 0).label("output_tokens"),
            func.coalesce(func.sum(ranked.c.total_tokens), 0).label("total_tokens"),
            func.sum(ranked.c.cost_usd).label("cost_usd"),
        )
        .group_by(ranked.c.key)
        .order_by(ranked.c.key)
    )
    with _connect(engine) as connection:
        rows = connection.execute(query).mappings().all()
    return [
        StatsRow(
            key=row["key"],
            count=row["count"],
            errors=row["errors"],
            error_rate=row["errors"] / row["count"],
            p50_ms=float(row["p50_ms"]),
            p90_ms=float(row["p90_ms"]),
            p99_ms=float(row["p99_ms"]),
            input_tokens=int(row["input_tokens"]),
            output_tokens=int(row["output_tokens"]),
            total_tokens=int(row["total_tokens"]),
            cost_usd=float(row["cost_usd"]) if row["cost_usd"] is not None else None,
        )
        for row in rows
    ]


def prompt_hashes(engine: Engine) -> dict[tuple[str, str], set[str]]:
    """Every content hash recorded per (prompt name, version) in stored spans."""
    span = Span.__table__  # type: ignore[attr-defined]
    query = (
        select(span.c.prompt_name, span.c.prompt_version, span.c.prompt_hash)
        .where(
            span.c.prompt_name.is_not(None),
            span.c.prompt_version.is_not(None),
            span.c.prompt_hash.is_not(None),
        )
        .distinct()
    )
    result: dict[tuple[str, str], set[str]] = {}
    with _connect(engine) as connection:
        for name, version, content_hash in connection.execute(query):
            result.setdefault((name, version), set()).add(content_hash)
    return result


# --------------------------------------------------------------------------- purge


def purge(engine: Engine, *, older_than: datetime | None = None, user_id: str | None = None) -> PurgeResult:
    """Delete whole traces and every row attached to them; the one place retention happens.

    ``older_than``: traces whose newest span started before this time. ``user_id``: every trace
    with a span of that user, plus rows of any table with a ``user_id`` column (a deletion request).

    What counts as attached is read from the table metadata, so other areas extend purge just by
    declaring their tables: every table with a ``trace_id`` column loses the purged traces' rows,
    and rows referencing deleted rows through a foreign key are deleted first. The hourly
    roll-ups of the hours the purged traces touched are recomputed in the same transaction.
    """
    if (older_than is None) == (user_id is None):
        raise ConfigError("purge needs exactly one of older_than or user_id")
    span = Span.__table__  # type: ignore[attr-defined]
    if older_than is not None:
        victims: Select[Any] = (
            select(span.c.trace_id).group_by(span.c.trace_id).having(func.max(span.c.start_time) < older_than)
        )
    else:
        victims = select(span.c.trace_id).where(span.c.user_id == user_id).distinct()
    counts: dict[str, int] = {}
    traces = 0
    tables = _attached_tables()
    while True:
        # Batches keep transactions and IN lists short on large histories.
        with engine.begin() as connection:
            batch = list(connection.execute(victims.limit(_PURGE_BATCH)).scalars())
            if not batch:
                break
            traces += len(batch)
            hours = rollups.trace_hours(connection, batch)
            for table in tables:
                _delete_with_dependents(connection, table, table.c.trace_id.in_(batch), counts, depth=0)
            rollups.rebuild(connection, hours=hours)  # the hourly roll-ups stay equal to the spans
    if user_id is not None:
        with engine.begin() as connection:
            for table in SQLModel.metadata.sorted_tables:
                if "user_id" in table.c and table.name != span.name:
                    _delete_with_dependents(connection, table, table.c.user_id == user_id, counts, depth=0)
    return PurgeResult(traces=traces, rows={name: n for name, n in sorted(counts.items()) if n})


def _attached_tables() -> list[Table]:
    """Tables with a trace_id column, dependents before what they depend on, the span table last."""
    span = Span.__table__  # type: ignore[attr-defined]
    ordered = [t for t in reversed(SQLModel.metadata.sorted_tables) if "trace_id" in t.c and t is not span]
    return [*ordered, span]


def _delete_with_dependents(
    connection: Connection, table: Table, where: ColumnElement[bool], counts: dict[str, int], *, depth: int
) -> None:
    if depth > 8:
        raise StorageError(f"purge: foreign keys to {table.name} nest too deeply")
    for child in SQLModel.metadata.sorted_tables:
        for fk in child.foreign_keys:
            if fk.column.table is table and child is not table:
                referenced = select(fk.column).where(where)
                _delete_with_dependents(connection, child, fk.parent.in_(referenced), counts, depth=depth + 1)
    deleted = connection.execute(delete(table).where(where)).rowcount
    counts[table.name] = counts.get(table.name, 0) + max(deleted, 0)


class _connect:
    """A connection whose driver errors come out as StorageError (one clear message for the CLI)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    def __enter__(self) -> Connection:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            self._connection = self._engine.connect()
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot connect to the database: {exc.__class__.__name__}: {exc}") from exc
        return self._connection

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        from sqlalchemy.exc import SQLAlchemyError

        assert self._connection is not None
        self._connection.close()
        if isinstance(exc, SQLAlchemyError):
            raise StorageError(f"database query failed: {exc.__class__.__name__}: {exc}") from exc
