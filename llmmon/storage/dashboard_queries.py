"""Read queries behind the dashboard and the read API: time series, quality rates, claim checks,
knowledge bases and eval runs.

Everything is one SQL aggregation per question, run the same on SQLite and PostgreSQL, and
bounded by a time window so that the overview stays fast on large histories (the indexes of
migration 0008 make the window scans index-only on SQLite). Tables written by other areas
(feedback, eval runs) are looked up in the shared metadata and treated as empty when absent,
so the dashboard works on any schema version.

Rates:

* hallucination rate = checked answers with at least one contradicted claim / checked answers
  (``answer_check`` and ``claim_check``), attributed to the time, model and prompt version of
  the checked trace.
* thumbs-down rate = traces whose latest vote is negative / traces with a vote.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine, Float, Integer, Table, and_, case, cast, exists, func, literal, select
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import SQLModel

from llmmon.errors import ConfigError
from llmmon.storage.models import AnswerCheck, ClaimCheck, KbDocument, KbPassage, KnowledgeBase, Span
from llmmon.storage.repo import _connect

__all__ = [
    "BUCKETS",
    "BreakdownRow",
    "CitedPassage",
    "ClaimCheckPublic",
    "EvidencePublic",
    "KbDocumentPublic",
    "KnowledgeBasePublic",
    "QualityCounts",
    "SeriesPoint",
    "breakdown",
    "claim_checks",
    "distinct_values",
    "feedback_table",
    "kb_documents",
    "knowledge_bases",
    "most_cited_passages",
    "overview_series",
    "quality_counts",
    "trace_feedback",
]

Bucket = Literal["day", "hour"]
BUCKETS: tuple[Bucket, ...] = ("day", "hour")
Dimension = Literal["model", "prompt_version"]

_PERCENTILES = {"p50_ms": 500, "p90_ms": 900, "p99_ms": 990}
_CITED_SCAN_LIMIT = 5000  # contradicted claims read per knowledge-base page (newest first)


# --------------------------------------------------------------------------- values


class SeriesPoint(BaseModel):
    """Aggregates of the traces that started in one day or hour."""

    bucket: str
    traces: int
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


class BreakdownRow(BaseModel):
    """Aggregates of the LLM calls of one model or prompt version, plus its quality rates."""

    key: str | None
    calls: int
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


class QualityCounts(BaseModel):
    """Checked / hallucinated answers and voted / thumbs-down traces of one group."""

    checked: int = 0
    hallucinated: int = 0
    voted: int = 0
    thumbs_down: int = 0


class EvidencePublic(BaseModel):
    """One evidence passage of a claim verdict, with its surrounding document text if stored."""

    passage_id: str
    doc: str
    start: int
    end: int
    text: str
    context_before: str = ""
    context_after: str = ""


class ClaimCheckPublic(BaseModel):
    """One claim of a checked answer: its verdict, why, and the evidence that decided it."""

    answer_check_id: int
    answer_verdict: str
    kb_name: str | None
    text: str
    start: int
    end: int
    verdict: str
    tier: str
    reason: str
    evidence: list[EvidencePublic]


class KnowledgeBasePublic(BaseModel):
    """A knowledge base with its size."""

    id: int
    name: str
    version_hash: str
    updated_at: datetime
    documents: int
    passages: int


class KbDocumentPublic(BaseModel):
    """A document of a knowledge base (without its text)."""

    id: int
    source: str
    format: str
    title: str
    passages: int
    updated_at: datetime


class CitedPassage(BaseModel):
    """A passage and how often contradicted claims cited it as evidence."""

    passage_id: str
    citations: int
    doc: str
    title: str
    text: str


# --------------------------------------------------------------------------- helpers


def _span() -> Any:
    return Span.__table__  # type: ignore[attr-defined]


def _bucket_expr(engine: Engine, column: Any, bucket: Bucket) -> ColumnElement[Any]:
    """UTC day ('YYYY-MM-DD') or hour ('YYYY-MM-DD HH') of a timestamp as text, on both databases."""
    if bucket not in BUCKETS:
        raise ConfigError(f"unknown bucket {bucket!r}; choose one of {', '.join(BUCKETS)}")
    if engine.dialect.name == "sqlite":
        # SQLite keeps UTC timestamps as ISO text ('YYYY-MM-DD HH:MM:SS...'): a prefix is the bucket.
        return func.substr(column, 1, 10 if bucket == "day" else 13)
    pattern = "YYYY-MM-DD" if bucket == "day" else "YYYY-MM-DD HH24"
    return func.to_char(func.timezone("UTC", column), pattern)


def _window(column: Any, since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions


def _percentile_query(units: Any, *extra: Any) -> Select[Any]:
    """Count, errors and p50/p90/p99 of ``units`` (key, latency_ms, status) per key, in SQL.

    Linear interpolation between closest ranks, exactly like ``numpy.percentile`` (the same
    arithmetic as ``repo.span_stats``).
    """
    ranked = select(
        units,
        func.row_number().over(partition_by=units.c.key, order_by=units.c.latency_ms).label("rn"),
        func.count().over(partition_by=units.c.key).label("n"),
    ).subquery("ranked")
    n = cast(ranked.c.n, Integer)
    rank = cast(ranked.c.rn, Integer)
    columns = []
    for label, per_mille in _PERCENTILES.items():
        scaled = (n - 1) * per_mille
        low = scaled // 1000
        frac = cast(scaled % 1000, Float) / 1000.0
        weight = case((rank == low + 1, 1.0 - frac), (rank == low + 2, frac), else_=0.0)
        columns.append(func.sum(ranked.c.latency_ms * weight).label(label))
    errors = func.sum(case((ranked.c.status == "error", 1), else_=0))
    sums = [func.sum(getattr(ranked.c, name)).label(name) for name in extra]
    return (
        select(ranked.c.key, func.count().label("count"), errors.label("errors"), *columns, *sums)
        .group_by(ranked.c.key)
        .order_by(ranked.c.key)
    )


def feedback_table() -> Table | None:
    """The feedback table when the server area's models are installed, else None."""
    try:
        import llmmon.storage.models.server  # noqa: F401  (registers the table in the metadata)
    except ImportError:
        return None
    return SQLModel.metadata.tables.get("feedback")


def _latest_votes(table: Table) -> Any:
    """One row per voted trace with ``is_down`` 1 when any current vote on it is negative.

    ``feedback`` holds the current vote per (trace, user); history lives in ``feedback_event``.
    """
    c = table.c
    return (
        select(c.trace_id.label("trace_id"), func.max(case((c.score < 0, 1), else_=0)).label("is_down"))
        .group_by(c.trace_id)
        .subquery("votes")
    )


def _hallucinated_answers() -> Any:
    """One row per checked answer that has a trace: trace id and 1/0 for a contradicted claim."""
    answer = AnswerCheck.__table__  # type: ignore[attr-defined]
    claim = ClaimCheck.__table__  # type: ignore[attr-defined]
    contradicted = exists().where(claim.c.answer_check_id == answer.c.id, claim.c.verdict == "contradicted")
    return (
        select(answer.c.trace_id.label("trace_id"), case((contradicted, 1), else_=0).label("bad"))
        .where(answer.c.trace_id.is_not(None))
        .subquery("checked")
    )


def quality_counts(
    engine: Engine,
    *,
    key: Literal["day", "hour", "model", "prompt_version"],
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str | None, QualityCounts]:
    """Hallucination and thumbs-down counts per group of the checked/voted trace."""
    span = _span()
    root = span.alias("qroot")
    if key in ("day", "hour"):
        group: ColumnElement[Any] = _bucket_expr(engine, root.c.start_time, key)
        base = select(root.c.trace_id.label("trace_id"), group.label("key")).where(
            root.c.parent_span_id.is_(None), root.c.is_eval.is_(False), *_window(root.c.start_time, since, until)
        )
    else:
        member = span.alias("qmember")
        column = member.c.model if key == "model" else member.c.prompt_name + literal(" ") + member.c.prompt_version
        present = member.c.model if key == "model" else member.c.prompt_version
        base = (
            select(member.c.trace_id.label("trace_id"), func.max(column).label("key"))
            .where(present.is_not(None), member.c.is_eval.is_(False), *_window(member.c.start_time, since, until))
            .group_by(member.c.trace_id)
        )
    traces = base.subquery("traces")
    result: dict[str | None, QualityCounts] = {}
    checked = _hallucinated_answers()
    check_query = (
        select(traces.c.key, func.count().label("checked"), func.sum(checked.c.bad).label("bad"))
        .join(checked, checked.c.trace_id == traces.c.trace_id)
        .group_by(traces.c.key)
    )
    table = feedback_table()
    with _connect(engine) as connection:
        for row in connection.execute(check_query).mappings():
            counts = result.setdefault(row["key"], QualityCounts())
            counts.checked = int(row["checked"])
            counts.hallucinated = int(row["bad"] or 0)
        if table is not None:
            votes = _latest_votes(table)
            vote_query = (
                select(traces.c.key, func.count().label("voted"), func.sum(votes.c.is_down).label("down"))
                .join(votes, votes.c.trace_id == traces.c.trace_id)
                .group_by(traces.c.key)
            )
            for row in connection.execute(vote_query).mappings():
                counts = result.setdefault(row["key"], QualityCounts())
                counts.voted = int(row["voted"])
                counts.thumbs_down = int(row["down"] or 0)
    return result


def _apply_quality(row: SeriesPoint | BreakdownRow, counts: QualityCounts | None) -> None:
    if counts is None:
        return
    row.checked, row.hallucinated = counts.checked, counts.hallucinated
    row.voted, row.thumbs_down = counts.voted, counts.thumbs_down
    row.hallucination_rate = counts.hallucinated / counts.checked if counts.checked else None
    row.thumbs_down_rate = counts.thumbs_down / counts.voted if counts.voted else None


# --------------------------------------------------------------------------- series & breakdowns


def overview_series(
    engine: Engine,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    bucket: Bucket = "day",
) -> list[SeriesPoint]:
    """Per day or hour: trace volume, errors, root latency percentiles, tokens, cost and quality rates.

    Latency and errors are those of the root spans (whole traces); tokens and cost are summed
    over the LLM spans that started in the bucket.
    """
    span = _span()
    key = _bucket_expr(engine, span.c.start_time, bucket)
    units = (
        select(key.label("key"), span.c.latency_ms, span.c.status)
        .where(span.c.parent_span_id.is_(None), span.c.is_eval.is_(False), *_window(span.c.start_time, since, until))
        .subquery("units")
    )
    usage = (
        select(
            key.label("key"),
            func.sum(span.c.input_tokens).label("input_tokens"),
            func.sum(span.c.output_tokens).label("output_tokens"),
            func.sum(span.c.cost_usd).label("cost_usd"),
        )
        .where(span.c.kind == "llm", span.c.is_eval.is_(False), *_window(span.c.start_time, since, until))
        .group_by(key)
    )
    with _connect(engine) as connection:
        rows = connection.execute(_percentile_query(units)).mappings().all()
        spend = {row["key"]: row for row in connection.execute(usage).mappings()}
    quality = quality_counts(engine, key=bucket, since=since, until=until)
    points: list[SeriesPoint] = []
    for row in rows:
        cost = spend.get(row["key"])
        point = SeriesPoint(
            bucket=row["key"],
            traces=row["count"],
            errors=row["errors"],
            error_rate=row["errors"] / row["count"],
            p50_ms=float(row["p50_ms"]),
            p90_ms=float(row["p90_ms"]),
            p99_ms=float(row["p99_ms"]),
            input_tokens=int(cost["input_tokens"] or 0) if cost else 0,
            output_tokens=int(cost["output_tokens"] or 0) if cost else 0,
            cost_usd=float(cost["cost_usd"]) if cost and cost["cost_usd"] is not None else None,
        )
        _apply_quality(point, quality.get(row["key"]))
        points.append(point)
    return points


def breakdown(
    engine: Engine,
    *,
    by: Dimension,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[BreakdownRow]:
    """Per model or prompt version: its LLM calls' volume, errors, latency, tokens, cost, quality rates."""
    if by not in ("model", "prompt_version"):
        raise ConfigError(f"cannot break down by {by!r}; choose model or prompt_version")
    span = _span()
    if by == "model":
        key: ColumnElement[Any] = span.c.model
        present: ColumnElement[bool] = span.c.model.is_not(None)
    else:
        key = span.c.prompt_name + literal(" ") + span.c.prompt_version
        present = and_(span.c.prompt_version.is_not(None), span.c.prompt_name.is_not(None))
    units = (
        select(
            key.label("key"),
            span.c.latency_ms,
            span.c.status,
            span.c.input_tokens,
            span.c.output_tokens,
            span.c.cost_usd,
        )
        .where(present, span.c.is_eval.is_(False), *_window(span.c.start_time, since, until))
        .subquery("units")
    )
    query = _percentile_query(units, "input_tokens", "output_tokens", "cost_usd")
    with _connect(engine) as connection:
        rows = connection.execute(query).mappings().all()
    quality = quality_counts(engine, key=by, since=since, until=until)
    result: list[BreakdownRow] = []
    for row in rows:
        item = BreakdownRow(
            key=row["key"],
            calls=row["count"],
            errors=row["errors"],
            error_rate=row["errors"] / row["count"],
            p50_ms=float(row["p50_ms"]),
            p90_ms=float(row["p90_ms"]),
            p99_ms=float(row["p99_ms"]),
            input_tokens=int(row["input_tokens"] or 0),
            output_tokens=int(row["output_tokens"] or 0),
            cost_usd=float(row["cost_usd"]) if row["cost_usd"] is not None else None,
        )
        _apply_quality(item, quality.get(row["key"]))
        result.append(item)
    return result


# --------------------------------------------------------------------------- one trace


def claim_checks(engine: Engine, *, trace_id: str, context_chars: int = 160) -> list[ClaimCheckPublic]:
    """Every checked claim of a trace with its evidence, and the document text around each passage."""
    answer = AnswerCheck.__table__  # type: ignore[attr-defined]
    claim = ClaimCheck.__table__  # type: ignore[attr-defined]
    query = (
        select(claim, answer.c.verdict.label("answer_verdict"), answer.c.kb_name)
        .join(answer, answer.c.id == claim.c.answer_check_id)
        .where(claim.c.trace_id == trace_id)
        .order_by(claim.c.answer_check_id, claim.c.start, claim.c.id)
    )
    with _connect(engine) as connection:
        rows = connection.execute(query).mappings().all()
        parsed = [(row, _parse_evidence(row["evidence"])) for row in rows]
        passage_ids = {e["passage_id"] for _, items in parsed for e in items if e.get("passage_id")}
        documents = _passage_documents(connection, passage_ids)
    result: list[ClaimCheckPublic] = []
    for row, items in parsed:
        evidence: list[EvidencePublic] = []
        for item in items:
            value = EvidencePublic(
                passage_id=str(item.get("passage_id", "")),
                doc=str(item.get("doc", "")),
                start=int(item.get("start", 0)),
                end=int(item.get("end", 0)),
                text=str(item.get("text", "")),
            )
            text = documents.get(value.passage_id)
            if text is not None and text[value.start : value.end] == value.text:
                value.context_before = text[max(0, value.start - context_chars) : value.start]
                value.context_after = text[value.end : value.end + context_chars]
            evidence.append(value)
        result.append(
            ClaimCheckPublic(
                answer_check_id=row["answer_check_id"],
                answer_verdict=row["answer_verdict"],
                kb_name=row["kb_name"],
                text=row["text"],
                start=row["start"],
                end=row["end"],
                verdict=row["verdict"],
                tier=row["tier"],
                reason=row["reason"],
                evidence=evidence,
            )
        )
    return result


def _parse_evidence(raw: str | None) -> list[dict[str, Any]]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _passage_documents(connection: Any, passage_ids: set[str]) -> dict[str, str]:
    """Document text per passage id (only for passages whose offsets are into the document itself)."""
    if not passage_ids:
        return {}
    passage = KbPassage.__table__  # type: ignore[attr-defined]
    document = KbDocument.__table__  # type: ignore[attr-defined]
    query = (
        select(passage.c.passage_id, document.c.text)
        .join(document, document.c.id == passage.c.document_id)
        .where(passage.c.passage_id.in_(sorted(passage_ids)), passage.c.record_id.is_(None))
    )
    return {row.passage_id: row.text for row in connection.execute(query)}


def trace_feedback(engine: Engine, *, trace_id: str) -> list[dict[str, Any]]:
    """Every vote on a trace, oldest first: the history when stored, else the current votes."""
    if feedback_table() is None:
        return []
    tables = SQLModel.metadata.tables
    with _connect(engine) as connection:
        for name in ("feedback_event", "feedback"):
            table = tables.get(name)
            if table is None:
                continue
            query = select(table).where(table.c.trace_id == trace_id).order_by(table.c.created_at, table.c.id)
            rows = [dict(row) for row in connection.execute(query).mappings()]
            if rows:
                return rows
    return []


# --------------------------------------------------------------------------- knowledge bases


def knowledge_bases(engine: Engine) -> list[KnowledgeBasePublic]:
    """Every knowledge base with its document and passage counts."""
    kb = KnowledgeBase.__table__  # type: ignore[attr-defined]
    document = KbDocument.__table__  # type: ignore[attr-defined]
    passage = KbPassage.__table__  # type: ignore[attr-defined]
    documents = select(func.count()).where(document.c.kb_id == kb.c.id).scalar_subquery()
    passages = select(func.count()).where(passage.c.kb_id == kb.c.id).scalar_subquery()
    query = select(
        kb.c.id, kb.c.name, kb.c.version_hash, kb.c.updated_at, documents.label("documents"), passages.label("passages")
    ).order_by(kb.c.name)
    with _connect(engine) as connection:
        return [KnowledgeBasePublic.model_validate(dict(row)) for row in connection.execute(query).mappings()]


def kb_documents(engine: Engine, *, kb_id: int) -> list[KbDocumentPublic]:
    """The documents of one knowledge base, by source."""
    document = KbDocument.__table__  # type: ignore[attr-defined]
    passage = KbPassage.__table__  # type: ignore[attr-defined]
    passages = select(func.count()).where(passage.c.document_id == document.c.id).scalar_subquery()
    query = (
        select(
            document.c.id,
            document.c.source,
            document.c.format,
            document.c.title,
            passages.label("passages"),
            document.c.updated_at,
        )
        .where(document.c.kb_id == kb_id)
        .order_by(document.c.source)
    )
    with _connect(engine) as connection:
        return [KbDocumentPublic.model_validate(dict(row)) for row in connection.execute(query).mappings()]


def most_cited_passages(engine: Engine, *, kb_id: int | None = None, limit: int = 20) -> list[CitedPassage]:
    """Passages most often cited as evidence by contradicted claims (of the newest contradicted claims).

    The evidence lists are JSON text (portable across databases), so the counting of passage ids
    happens here, over at most a few thousand contradicted claims.
    """
    claim = ClaimCheck.__table__  # type: ignore[attr-defined]
    passage = KbPassage.__table__  # type: ignore[attr-defined]
    document = KbDocument.__table__  # type: ignore[attr-defined]
    with _connect(engine) as connection:
        raw = connection.execute(
            select(claim.c.evidence)
            .where(claim.c.verdict == "contradicted")
            .order_by(claim.c.id.desc())
            .limit(_CITED_SCAN_LIMIT)
        ).scalars()
        counts: Counter[str] = Counter()
        for evidence in raw:
            # A passage cited twice by one claim counts once.
            counts.update({str(e["passage_id"]) for e in _parse_evidence(evidence) if e.get("passage_id")})
        if not counts:
            return []
        conditions: list[ColumnElement[bool]] = [passage.c.passage_id.in_(sorted(counts))]
        if kb_id is not None:
            conditions.append(passage.c.kb_id == kb_id)
        rows = connection.execute(
            select(passage.c.passage_id, passage.c.title, passage.c.text, document.c.source)
            .join(document, document.c.id == passage.c.document_id)
            .where(*conditions)
        ).all()
    cited = [
        CitedPassage(passage_id=r.passage_id, citations=counts[r.passage_id], doc=r.source, title=r.title, text=r.text)
        for r in rows
    ]
    cited.sort(key=lambda c: (-c.citations, c.passage_id))
    return cited[:limit]


def distinct_values(engine: Engine, column: str, *, limit: int = 200) -> Sequence[str]:
    """Distinct non-null values of a span column (model, prompt_version, name), for filter menus."""
    span = _span()
    if column not in ("model", "prompt_version", "prompt_name", "name", "status"):
        raise ConfigError(f"no filter menu for column {column!r}")
    target = span.c[column]
    with _connect(engine) as connection:
        return list(
            connection.execute(select(target).where(target.is_not(None)).distinct().order_by(target).limit(limit))
            .scalars()
            .all()
        )
