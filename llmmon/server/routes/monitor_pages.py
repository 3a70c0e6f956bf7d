"""Dashboard pages of the monitor: Alerts (``/alerts``), Drift (``/drift``) and Canary (``/canary``).

Server-rendered like the other pages (same templates, nav and SVG charts; no inline script).
Acknowledging an alert is a plain form posting to ``/alerts/{id}/ack``, which needs the
``admin`` scope (an admin key's session; the session cookie is SameSite=Strict, so another
site cannot post the form) and redirects back to the Alerts page.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine, select

from llmmon.monitor.canary import CanaryReport
from llmmon.server import charts
from llmmon.server.auth import Principal, require_scope
from llmmon.server.deps import EngineDep
from llmmon.server.routes.dashboard import _pct, _render, _usd
from llmmon.server.routes.monitor_api import (
    DURATION_PATTERN,
    AlertState,
    DriftReportPublic,
    Severity,
    acknowledge,
    alerts,
    canary,
    drift,
)
from llmmon.storage.models import Span
from llmmon.storage.repo import _connect

__all__ = ["prompt_versions", "router"]

router = APIRouter(include_in_schema=False)
_READ = Depends(require_scope("read"))
WINDOWS = ("1h", "6h", "1d", "7d", "30d")
SEASONAL_WEEKS = ("", "1", "2", "4")
Duration = Annotated[str, Query(pattern=DURATION_PATTERN)]


def _can_ack(principal: Principal) -> bool:
    return principal.kind == "anonymous" or principal.scope == "admin"


def prompt_versions(engine: Engine, *, limit: int = 500) -> dict[str, list[str]]:
    """The prompt names seen in the spans, each with its versions (sorted), for the canary picker."""
    span = Span.__table__  # type: ignore[attr-defined]
    statement = (
        select(span.c.prompt_name, span.c.prompt_version)
        .where(span.c.prompt_name.is_not(None), span.c.prompt_version.is_not(None))
        .distinct()
        .order_by(span.c.prompt_name, span.c.prompt_version)
        .limit(limit)
    )
    found: dict[str, list[str]] = {}
    with _connect(engine) as connection:
        for name, version in connection.execute(statement):
            found.setdefault(name, []).append(version)
    return found


# --------------------------------------------------------------------------- alerts


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    engine: EngineDep,
    principal: Annotated[Principal, _READ],
    state: Annotated[AlertState | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
) -> HTMLResponse:
    """Open, acked and resolved alerts with severity, last value, notification log and an ack button."""
    rows = alerts(engine, state=state, severity=severity, limit=200)
    everything = alerts(engine, limit=1000) if state or severity else rows
    counts = {name: sum(1 for a in everything if a.state == name) for name in ("open", "acked", "resolved")}
    return _render(
        request,
        "alerts.html",
        active="alerts",
        alerts=rows,
        counts=counts,
        state=state or "",
        severity=severity or "",
        can_ack=_can_ack(principal),
    )


@router.post("/alerts/{alert_id}/ack")
def ack_form(
    alert_id: int, engine: EngineDep, principal: Annotated[Principal, Depends(require_scope("admin"))]
) -> RedirectResponse:
    """The Alerts page's ack button (admin): acknowledge, then show the page again."""
    acknowledge(engine, alert_id, principal)
    return RedirectResponse(f"/alerts#alert-{alert_id}", status_code=303)


# --------------------------------------------------------------------------- drift


def _drift_charts(report: DriftReportPublic) -> dict[str, Any]:
    views = {}
    for item in report.features:
        views[item.feature] = {
            "contributions": charts.bar_chart(
                [(b.label, b.contribution) for b in item.top_bins], title="Top bins by PSI contribution"
            ),
            "histogram": charts.paired_bar_chart(
                [(b.label, b.reference_share, b.current_share) for b in item.top_bins],
                title="Share of traces: reference vs current (top bins)",
                fmt=_pct,
            ),
        }
    return views


@router.get("/drift", response_class=HTMLResponse, dependencies=[_READ])
def drift_page(
    request: Request,
    engine: EngineDep,
    reference: Duration = "7d",
    current: Duration = "1d",
    seasonal: Annotated[str, Query(pattern=r"^(|[1-9]|1[0-2])$")] = "",
    end: datetime | None = None,
) -> HTMLResponse:
    """Per feature: PSI, KS and chi-square, the drifted flag, top bins and their shares."""
    report = drift(engine, reference=reference, current=current, seasonal=int(seasonal) if seasonal else None, end=end)
    return _render(
        request,
        "drift.html",
        active="drift",
        report=report,
        views=_drift_charts(report),
        reference=reference,
        current=current,
        seasonal=seasonal,
        windows=_choices(reference, current),
        seasonal_choices=SEASONAL_WEEKS,
    )


def _choices(*selected: str) -> list[str]:
    return list(WINDOWS) + [value for value in dict.fromkeys(selected) if value not in WINDOWS]


# --------------------------------------------------------------------------- canary


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if metric.endswith("_rate"):
        return _pct(value)
    if metric.startswith("cost"):
        return _usd(value)
    if metric.startswith("latency"):
        return f"{value:.0f} ms"
    return f"{value:.3f}"


def _canary_rows(report: CanaryReport) -> list[dict[str, Any]]:
    rows = []
    for c in report.comparisons:
        rows.append(
            {
                "c": c,
                "baseline": _fmt(c.metric, c.baseline_mean),
                "candidate": _fmt(c.metric, c.candidate_mean),
                "difference": _fmt(c.metric, c.difference),
                "interval": f"[{_fmt(c.metric, c.low)}, {_fmt(c.metric, c.high)}]" if c.low is not None else "–",
                "margin": _fmt(c.metric, c.margin),
                "chart": charts.interval_chart(
                    c.low,
                    c.difference,
                    c.high,
                    margin=c.margin,
                    title=f"{c.label}: candidate - baseline",
                    fmt=partial(_fmt, c.metric),
                ),
            }
        )
    return rows


@router.get("/canary", response_class=HTMLResponse, dependencies=[_READ])
def canary_page(
    request: Request,
    engine: EngineDep,
    prompt: Annotated[str | None, Query(max_length=256)] = None,
    baseline: Annotated[str | None, Query(max_length=256)] = None,
    candidate: Annotated[str | None, Query(max_length=256)] = None,
    window: Duration = "7d",
    end: datetime | None = None,
) -> HTMLResponse:
    """Pick a prompt and two of its versions; per metric baseline vs candidate with intervals, the verdict."""
    seen = prompt_versions(engine)
    prompt = prompt if prompt in seen else next(iter(seen), None)
    versions = seen.get(prompt, []) if prompt else []
    baseline = baseline if baseline in versions else (versions[-2] if len(versions) > 1 else None)
    candidate = candidate if candidate in versions else (versions[-1] if len(versions) > 1 else None)
    report = None
    problem = None
    if prompt and baseline and candidate:
        if baseline == candidate:
            problem = "Pick two different versions."
        else:
            report = canary(
                engine, prompt=prompt, baseline=baseline, candidate=candidate, window=window, end=end, alpha=0.05
            )
    return _render(
        request,
        "canary.html",
        active="canary",
        prompts=list(seen),
        versions=versions,
        prompt=prompt,
        baseline=baseline,
        candidate=candidate,
        window=window,
        windows=_choices(window),
        report=report,
        rows=_canary_rows(report) if report else [],
        problem=problem,
    )
