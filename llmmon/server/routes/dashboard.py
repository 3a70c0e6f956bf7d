"""The dashboard: server-rendered pages (Jinja2) with server-side SVG charts; works offline.

Pages: overview (``/``), trace explorer (``/traces``, ``/traces/{id}``), eval runs (``/evals``,
``/evals/compare``) and knowledge bases (``/knowledge``, ``/knowledge/{id}``). Static assets
(one stylesheet, one small script) are served from the package by ``/static/{name}``.
Every page needs the ``read`` scope (a 401 in a browser redirects to ``/login``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from llmmon.server import charts
from llmmon.server.auth import require_scope
from llmmon.server.deps import EngineDep
from llmmon.server.errors import ApiError
from llmmon.server.routes.api import MAX_PAGE, as_utc, trace_exists
from llmmon.server.routes.monitor_api import alerts
from llmmon.storage import dashboard_queries as dq
from llmmon.storage import eval_views, latency_histogram, repo

__all__ = ["RANGES", "router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_scope("read"))])

_PACKAGE = Path(__file__).resolve().parent.parent
_STATIC = {"dashboard.css": "text/css; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8"}
Range = Literal["24h", "7d", "30d", "all"]
RANGES: dict[str, timedelta | None] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
PAGE_SIZE = 50


# --------------------------------------------------------------------------- rendering


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _usd(value: float | None) -> str:
    if value is None:
        return "–"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _time(value: datetime | None) -> str:
    return "–" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _pretty_json(raw: str | None) -> str:
    """Stored JSON payloads indented for reading (raw text when it is not JSON)."""
    if raw is None:
        return ""
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        return raw


@cache
def _environment() -> Environment:
    """The Jinja2 environment (built on first use, not at import)."""
    env = Environment(
        loader=FileSystemLoader(_PACKAGE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
    )
    env.filters.update(ms=_ms, pct=_pct, usd=_usd, num=_num, time=_time, pretty_json=_pretty_json)
    return env


def _render(request: Request, template: str, *, active: str, **context: Any) -> HTMLResponse:
    html = _environment().get_template(template).render(request=request, active=active, **context)
    return HTMLResponse(html)


def _since(range_: str, now: datetime) -> datetime | None:
    delta = RANGES[range_]
    return None if delta is None else now - delta


@router.get("/static/{name}")
def static_file(name: str) -> Response:
    """One of the dashboard's own static files (no directory listing, no other paths)."""
    if name not in _STATIC:
        raise ApiError(404, f"no static file {name!r}")
    return Response((_PACKAGE / "static" / name).read_bytes(), media_type=_STATIC[name])


# --------------------------------------------------------------------------- overview


@router.get("/", response_class=HTMLResponse)
def overview(
    request: Request, engine: EngineDep, window: Annotated[Range, Query(alias="range")] = "7d"
) -> HTMLResponse:
    """Volume, latency, errors, cost, hallucination and thumbs-down rates over time and per group."""
    now = datetime.now(UTC)
    since = _since(window, now)
    bucket: dq.Bucket = "hour" if window == "24h" else "day"
    points = dq.overview_series(engine, since=since, bucket=bucket)
    by_model = dq.breakdown(engine, by="model", since=since)
    by_prompt = dq.breakdown(engine, by="prompt_version", since=since)
    labels = [p.bucket[5:] if bucket == "day" else p.bucket[11:13] + "h" for p in points]
    traces = sum(p.traces for p in points)
    errors = sum(p.errors for p in points)
    checked = sum(p.checked for p in points)
    voted = sum(p.voted for p in points)
    costs = [p.cost_usd for p in points if p.cost_usd is not None]
    totals = {
        "traces": traces,
        "error_rate": errors / traces if traces else None,
        "cost": sum(costs) if costs else None,
        "hallucination_rate": sum(p.hallucinated for p in points) / checked if checked else None,
        "checked": checked,
        "thumbs_down_rate": sum(p.thumbs_down for p in points) / voted if voted else None,
        "voted": voted,
        "p50": max((p.p50_ms for p in points), default=None),
        "p99": max((p.p99_ms for p in points), default=None),
    }
    chart_list = [
        charts.line_chart(labels, [("traces", [float(p.traces) for p in points])], title="Traces", fmt=_num),
        charts.line_chart(
            labels,
            [
                ("p50", [p.p50_ms for p in points]),
                ("p90", [p.p90_ms for p in points]),
                ("p99", [p.p99_ms for p in points]),
            ],
            title="Latency percentiles",
            fmt=_ms,
        ),
        charts.line_chart(labels, [("error rate", [p.error_rate for p in points])], title="Error rate", fmt=_pct),
        charts.line_chart(labels, [("cost", [p.cost_usd for p in points])], title="Cost", fmt=_usd),
        charts.line_chart(
            labels,
            [("hallucination rate", [p.hallucination_rate for p in points])],
            title="Hallucination rate (checked answers)",
            fmt=_pct,
        ),
        charts.line_chart(
            labels,
            [("thumbs-down rate", [p.thumbs_down_rate for p in points])],
            title="Negative feedback rate (voted traces)",
            fmt=_pct,
        ),
    ]
    group_charts = [
        charts.bar_chart([(r.key or "–", r.p90_ms) for r in by_prompt], title="p90 latency by prompt version", fmt=_ms),
        charts.bar_chart(
            [(r.key or "–", r.hallucination_rate) for r in by_prompt],
            title="Hallucination rate by prompt version",
            fmt=_pct,
        ),
        charts.bar_chart([(r.key or "–", r.cost_usd) for r in by_model], title="Cost by model", fmt=_usd),
        charts.bar_chart([(r.key or "–", r.error_rate) for r in by_model], title="Error rate by model", fmt=_pct),
    ]
    return _render(
        request,
        "overview.html",
        active="overview",
        window=window,
        ranges=list(RANGES),
        totals=totals,
        charts=chart_list,
        group_charts=group_charts,
        by_model=by_model,
        by_prompt=by_prompt,
        active_alerts=alerts(engine, state="active", limit=10),
        percentile_error=latency_histogram.RELATIVE_ERROR,
    )


# --------------------------------------------------------------------------- traces


@router.get("/traces", response_class=HTMLResponse)
def traces_page(
    request: Request,
    engine: EngineDep,
    q: Annotated[str | None, Query(max_length=256)] = None,
    status: Annotated[Literal["ok", "error", ""] | None, Query()] = None,
    model: Annotated[str | None, Query(max_length=256)] = None,
    prompt_version: Annotated[str | None, Query(max_length=256)] = None,
    name: Annotated[str | None, Query(max_length=256)] = None,
    user_id: Annotated[str | None, Query(max_length=256)] = None,
    session_id: Annotated[str | None, Query(max_length=256)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """The trace explorer: search, filters, pagination."""
    filters = {
        "q": q or None,
        "status": status or None,
        "model": model or None,
        "prompt_version": prompt_version or None,
        "name": name or None,
        "user_id": user_id or None,
        "session_id": session_id or None,
    }
    result = repo.list_traces(
        engine,
        since=as_utc(since),
        until=as_utc(until),
        name=filters["name"],
        status=filters["status"],
        model=filters["model"],
        prompt_version=filters["prompt_version"],
        user_id=filters["user_id"],
        session_id=filters["session_id"],
        search=filters["q"],
        limit=min(PAGE_SIZE, MAX_PAGE),
        offset=(page - 1) * PAGE_SIZE,
    )
    kept = {k: v for k, v in filters.items() if v}
    pages = max(1, -(-result.count // PAGE_SIZE))
    return _render(
        request,
        "traces.html",
        active="traces",
        result=result,
        filters=filters,
        page=page,
        pages=pages,
        prev_url=f"/traces?{urlencode(kept | {'page': page - 1})}" if page > 1 else None,
        next_url=f"/traces?{urlencode(kept | {'page': page + 1})}" if page < pages else None,
        models=dq.distinct_values(engine, "model"),
        prompt_versions=dq.distinct_values(engine, "prompt_version"),
        names=dq.distinct_values(engine, "name"),
    )


def _flatten(nodes: list[repo.SpanNode], depth: int = 0) -> list[tuple[int, repo.SpanPublic]]:
    rows: list[tuple[int, repo.SpanPublic]] = []
    for node in nodes:
        rows.append((depth, node.span))
        rows.extend(_flatten(node.children, depth + 1))
    return rows


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
def trace_page(request: Request, trace_id: str, engine: EngineDep) -> HTMLResponse:
    """One trace: span waterfall, payloads, claim verdicts with highlighted evidence, feedback."""
    if not trace_exists(engine, trace_id):
        raise ApiError(404, f"no trace with id {trace_id!r}")
    tree = repo.get_trace(engine, trace_id)
    rows = _flatten(tree)
    start = min(span.start_time for _, span in rows)
    end = max(span.end_time for _, span in rows)
    total_ms = max((end - start).total_seconds() * 1000, 0.001)
    waterfall = [
        {
            "depth": depth,
            "span": span,
            "left": 100 * (span.start_time - start).total_seconds() * 1000 / total_ms,
            "width": max(0.5, 100 * span.latency_ms / total_ms),
        }
        for depth, span in rows
    ]
    llm = [span for _, span in rows if span.kind == "llm"]
    costs = [span.cost_usd for _, span in rows if span.cost_usd is not None]
    return _render(
        request,
        "trace.html",
        active="traces",
        trace_id=trace_id,
        root=tree[0].span,
        waterfall=waterfall,
        total_ms=total_ms,
        input_tokens=sum(span.input_tokens or 0 for span in llm),
        output_tokens=sum(span.output_tokens or 0 for span in llm),
        cost=sum(costs) if costs else None,
        claims=dq.claim_checks(engine, trace_id=trace_id),
        feedback=dq.trace_feedback(engine, trace_id=trace_id),
    )


# --------------------------------------------------------------------------- evals


@router.get("/evals", response_class=HTMLResponse)
def evals_page(request: Request, engine: EngineDep) -> HTMLResponse:
    """Eval runs, newest first, with a baseline-vs-candidate picker."""
    runs = eval_views.list_eval_runs(engine)
    return _render(
        request,
        "evals.html",
        active="evals",
        runs=runs,
        installed=eval_views.eval_tables() is not None,
        default_baseline=next((r.id for r in runs if r.is_baseline), runs[-1].id if runs else None),
        default_candidate=runs[0].id if runs else None,
    )


@router.get("/evals/compare", response_class=HTMLResponse)
def evals_compare_page(
    request: Request,
    engine: EngineDep,
    baseline: Annotated[str, Query(max_length=64)],
    candidate: Annotated[str, Query(max_length=64)],
) -> HTMLResponse:
    """Per-case diffs of a baseline and a candidate run."""
    known = {run.id for run in eval_views.list_eval_runs(engine, limit=10_000)}
    for run_id in (baseline, candidate):
        if run_id not in known:
            raise ApiError(404, f"no eval run with id {run_id!r}")
    comparison = eval_views.compare_runs(engine, baseline_id=baseline, candidate_id=candidate)
    return _render(request, "eval_compare.html", active="evals", comparison=comparison)


# --------------------------------------------------------------------------- knowledge


@router.get("/knowledge", response_class=HTMLResponse)
def knowledge_page(request: Request, engine: EngineDep) -> HTMLResponse:
    """Knowledge bases and the passages contradicted claims cite most."""
    return _render(
        request,
        "knowledge.html",
        active="knowledge",
        kbs=dq.knowledge_bases(engine),
        cited=dq.most_cited_passages(engine, limit=20),
        kb=None,
        documents=[],
    )


@router.get("/knowledge/{kb_id}", response_class=HTMLResponse)
def knowledge_base_page(request: Request, kb_id: int, engine: EngineDep) -> HTMLResponse:
    """One knowledge base: its documents and its most-cited passages."""
    kbs = dq.knowledge_bases(engine)
    kb = next((k for k in kbs if k.id == kb_id), None)
    if kb is None:
        raise ApiError(404, f"no knowledge base with id {kb_id}")
    return _render(
        request,
        "knowledge.html",
        active="knowledge",
        kbs=kbs,
        kb=kb,
        documents=dq.kb_documents(engine, kb_id=kb_id),
        cited=dq.most_cited_passages(engine, kb_id=kb_id, limit=20),
    )
