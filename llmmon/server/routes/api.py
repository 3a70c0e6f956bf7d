"""The read side of the JSON API (``GET /v1/...``): traces, stats, claim checks, eval runs,
knowledge bases -- everything the dashboard shows, OpenAPI-documented (alerts, drift and
canaries are in ``monitor_api``).

Routes stay thin: validate the query, call a storage read function, return a ``...Public`` model
(lists as ``...sPublic`` with ``data`` and ``count``). Filters are bound parameters all the way
down, so a filter value is only ever compared with, never spliced into, SQL. Every route needs
the ``read`` scope (an API key, or the dashboard's session cookie; nothing under ``--no-auth``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import Engine, select

from llmmon.server.auth import require_scope
from llmmon.server.deps import EngineDep
from llmmon.server.errors import ApiError
from llmmon.storage import dashboard_queries as dq
from llmmon.storage import eval_views, repo
from llmmon.storage.models import Span
from llmmon.storage.repo import _connect

__all__ = [
    "BreakdownRowsPublic",
    "CitedPassagesPublic",
    "ClaimChecksPublic",
    "EvalRunsPublic",
    "FeedbackPublic",
    "KbDocumentsPublic",
    "KnowledgeBasesPublic",
    "SeriesPointsPublic",
    "StatsRowsPublic",
    "TraceDetailPublic",
    "TracesPublic",
    "router",
]

router = APIRouter(prefix="/v1", tags=["read"], dependencies=[Depends(require_scope("read"))])

MAX_PAGE = 500


# --------------------------------------------------------------------------- response models


class TracesPublic(BaseModel):
    """A page of traces and how many traces match the filters."""

    data: list[repo.TraceSummary]
    count: int
    limit: int
    offset: int


class FeedbackPublic(BaseModel):
    """One vote on a trace."""

    user_id: str | None = None
    value: str | None = None
    score: float | None = None
    comment: str | None = None
    reason: str | None = None
    created_at: datetime | None = None


class TraceDetailPublic(BaseModel):
    """One trace: its span tree, claim-level checks with evidence, and feedback."""

    trace_id: str
    spans: list[repo.SpanNode]
    claims: list[dq.ClaimCheckPublic]
    feedback: list[FeedbackPublic]


class ClaimChecksPublic(BaseModel):
    """Claim-level verdicts of one trace with their evidence passages."""

    data: list[dq.ClaimCheckPublic]
    count: int


class StatsRowsPublic(BaseModel):
    """Trace-level stats per model, prompt version or day (the same numbers as ``llmmon stats``)."""

    data: list[repo.StatsRow]
    count: int


class SeriesPointsPublic(BaseModel):
    """Stats per day or hour, with hallucination and thumbs-down rates."""

    data: list[dq.SeriesPoint]
    count: int


class BreakdownRowsPublic(BaseModel):
    """Stats of LLM calls per model or prompt version, with quality rates."""

    data: list[dq.BreakdownRow]
    count: int


class EvalRunsPublic(BaseModel):
    """Eval runs, newest first."""

    data: list[eval_views.EvalRunPublic]
    count: int


class KnowledgeBasesPublic(BaseModel):
    """Every knowledge base with its size."""

    data: list[dq.KnowledgeBasePublic]
    count: int


class KbDocumentsPublic(BaseModel):
    """Documents of one knowledge base."""

    data: list[dq.KbDocumentPublic]
    count: int


class CitedPassagesPublic(BaseModel):
    """Passages most cited by contradicted claims."""

    data: list[dq.CitedPassage]
    count: int


# --------------------------------------------------------------------------- helpers

Since = Annotated[datetime | None, Query(description="Only traces that started at or after this time (ISO 8601)")]
Until = Annotated[datetime | None, Query(description="Only traces that started before this time (ISO 8601)")]
Text = Annotated[str | None, Query(max_length=256)]


def as_utc(value: datetime | None) -> datetime | None:
    """Naive datetimes in a query are read as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def trace_exists(engine: Engine, trace_id: str) -> bool:
    """True when a span of this exact trace id is stored."""
    span = Span.__table__  # type: ignore[attr-defined]
    with _connect(engine) as connection:
        found = connection.execute(select(span.c.trace_id).where(span.c.trace_id == trace_id).limit(1)).first()
    return found is not None


def _require_trace(engine: Engine, trace_id: str) -> None:
    if not trace_exists(engine, trace_id):
        raise ApiError(404, f"no trace with id {trace_id!r}")


def _feedback(engine: Engine, trace_id: str) -> list[FeedbackPublic]:
    rows: list[dict[str, Any]] = dq.trace_feedback(engine, trace_id=trace_id)
    return [FeedbackPublic.model_validate({k: row.get(k) for k in FeedbackPublic.model_fields}) for row in rows]


# --------------------------------------------------------------------------- traces


@router.get("/traces", response_model=TracesPublic, summary="List traces")
def list_traces(
    engine: EngineDep,
    since: Since = None,
    until: Until = None,
    name: Text = None,
    status: Annotated[Literal["ok", "error"] | None, Query()] = None,
    model: Text = None,
    prompt_name: Text = None,
    prompt_version: Text = None,
    user_id: Text = None,
    session_id: Text = None,
    q: Annotated[str | None, Query(max_length=256, description="Text in the root span's name, input or output")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TracesPublic:
    """Traces (root spans) newest first, filtered, with span counts, tokens and cost per trace."""
    page = repo.list_traces(
        engine,
        since=as_utc(since),
        until=as_utc(until),
        name=name,
        status=status,
        model=model,
        prompt_name=prompt_name,
        prompt_version=prompt_version,
        user_id=user_id,
        session_id=session_id,
        search=q or None,
        limit=limit,
        offset=offset,
    )
    return TracesPublic(data=page.data, count=page.count, limit=page.limit, offset=page.offset)


@router.get("/traces/{trace_id}", response_model=TraceDetailPublic, summary="One trace with its span tree")
def get_trace(trace_id: str, engine: EngineDep) -> TraceDetailPublic:
    """The span tree (timings, tokens, cost, prompt version), claim verdicts with evidence, and feedback."""
    _require_trace(engine, trace_id)
    return TraceDetailPublic(
        trace_id=trace_id,
        spans=repo.get_trace(engine, trace_id),
        claims=dq.claim_checks(engine, trace_id=trace_id),
        feedback=_feedback(engine, trace_id),
    )


@router.get("/traces/{trace_id}/claims", response_model=ClaimChecksPublic, summary="Claim checks of a trace")
def get_trace_claims(trace_id: str, engine: EngineDep) -> ClaimChecksPublic:
    """Claim-level verdicts of the trace's checked answers, each with its evidence passages."""
    _require_trace(engine, trace_id)
    claims = dq.claim_checks(engine, trace_id=trace_id)
    return ClaimChecksPublic(data=claims, count=len(claims))


# --------------------------------------------------------------------------- stats


@router.get("/stats", response_model=StatsRowsPublic, summary="Trace stats per group")
def get_stats(
    engine: EngineDep,
    group_by: Annotated[Literal["model", "prompt_version", "day"], Query()] = "model",
    since: Since = None,
    until: Until = None,
    name: Text = None,
) -> StatsRowsPublic:
    """Count, error rate, p50/p90/p99 latency, tokens and cost per model, prompt version or day."""
    rows = repo.span_stats(engine, group_by=group_by, since=as_utc(since), until=as_utc(until), name=name)
    return StatsRowsPublic(data=rows, count=len(rows))


@router.get("/stats/timeseries", response_model=SeriesPointsPublic, summary="Stats per day or hour")
def get_timeseries(
    engine: EngineDep,
    bucket: Annotated[Literal["day", "hour"], Query()] = "day",
    since: Since = None,
    until: Until = None,
) -> SeriesPointsPublic:
    """Volume, errors, latency percentiles, tokens, cost, hallucination and thumbs-down rates over time.

    Read from the hourly roll-ups: the time window is rounded out to whole hours, and the
    percentiles are approximate (each point carries ``percentiles_approximate`` and
    ``percentile_relative_error``); everything else is exact. ``GET /v1/stats`` is exact.
    """
    points = dq.overview_series(engine, since=as_utc(since), until=as_utc(until), bucket=bucket)
    return SeriesPointsPublic(data=points, count=len(points))


@router.get("/stats/breakdown", response_model=BreakdownRowsPublic, summary="Stats per model or prompt version")
def get_breakdown(
    engine: EngineDep,
    by: Annotated[Literal["model", "prompt_version"], Query()] = "model",
    since: Since = None,
    until: Until = None,
) -> BreakdownRowsPublic:
    """Volume, latency, tokens, cost, hallucination and thumbs-down rates per model (its LLM calls) or
    prompt version (its traces, with the tokens and cost of their LLM calls).

    Read from the hourly roll-ups: approximate percentiles, window rounded to whole hours.
    """
    rows = dq.breakdown(engine, by=by, since=as_utc(since), until=as_utc(until))
    return BreakdownRowsPublic(data=rows, count=len(rows))


# --------------------------------------------------------------------------- evals, alerts, knowledge


@router.get("/evals/runs", response_model=EvalRunsPublic, summary="Eval runs")
def list_eval_runs(
    engine: EngineDep,
    suite: Text = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> EvalRunsPublic:
    """Eval runs newest first (empty when no eval has been run)."""
    runs = eval_views.list_eval_runs(engine, suite_name=suite, limit=limit)
    return EvalRunsPublic(data=runs, count=len(runs))


@router.get("/evals/compare", response_model=eval_views.RunComparison, summary="Compare two eval runs")
def compare_eval_runs(
    engine: EngineDep,
    baseline: Annotated[str, Query(max_length=64)],
    candidate: Annotated[str, Query(max_length=64)],
) -> eval_views.RunComparison:
    """Per-case diff of a baseline and a candidate run: newly failing and newly passing cases first."""
    for run_id in (baseline, candidate):
        if not _eval_run_exists(engine, run_id):
            raise ApiError(404, f"no eval run with id {run_id!r}")
    return eval_views.compare_runs(engine, baseline_id=baseline, candidate_id=candidate)


def _eval_run_exists(engine: Engine, run_id: str) -> bool:
    tables = eval_views.eval_tables()
    if tables is None:
        return False
    run, _ = tables
    with _connect(engine) as connection:
        return connection.execute(select(run.c.id).where(run.c.id == run_id)).first() is not None


# Alerts, drift and canaries: ``llmmon.server.routes.monitor_api``.


@router.get("/knowledge-bases", response_model=KnowledgeBasesPublic, summary="Knowledge bases")
def list_knowledge_bases(engine: EngineDep) -> KnowledgeBasesPublic:
    """Every knowledge base with its document and passage counts."""
    kbs = dq.knowledge_bases(engine)
    return KnowledgeBasesPublic(data=kbs, count=len(kbs))


@router.get("/knowledge-bases/{kb_id}/documents", response_model=KbDocumentsPublic, summary="KB documents")
def list_kb_documents(kb_id: int, engine: EngineDep) -> KbDocumentsPublic:
    """The documents of one knowledge base."""
    if kb_id not in {kb.id for kb in dq.knowledge_bases(engine)}:
        raise ApiError(404, f"no knowledge base with id {kb_id}")
    docs = dq.kb_documents(engine, kb_id=kb_id)
    return KbDocumentsPublic(data=docs, count=len(docs))


@router.get("/knowledge-bases/{kb_id}/cited-passages", response_model=CitedPassagesPublic, summary="Cited passages")
def list_cited_passages(
    kb_id: int, engine: EngineDep, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> CitedPassagesPublic:
    """Passages of the knowledge base most often cited by contradicted claims."""
    if kb_id not in {kb.id for kb in dq.knowledge_bases(engine)}:
        raise ApiError(404, f"no knowledge base with id {kb_id}")
    passages = dq.most_cited_passages(engine, kb_id=kb_id, limit=limit)
    return CitedPassagesPublic(data=passages, count=len(passages))
