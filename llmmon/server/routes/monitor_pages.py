"""Dashboard pages of the monitor: Alerts (``/alerts``), Drift (``/drift``) and Canary (``/canary``).

Server-rendered like the other pages (same templates, nav and SVG charts; no inline script).
Acknowledging an alert is a plain form posting to ``/alerts/{id}/ack``, which needs the
``admin`` scope (an admin key's session; the session cookie is SameSite=Strict, so another
site cannot post the form) and redirects back to the Alerts page.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Engine, select

from llmmon.monitor.canary import CanaryReport
from llmmon.monitor.features import NUMERIC_FEATURES, load_features
from llmmon.monitor.windows import Window
from llmmon.server import charts
from llmmon.server.auth import Principal, require_scope
from llmmon.server.deps import EngineDep
from llmmon.server.routes.dashboard import _pct, _render, _usd
from llmmon.server.routes.monitor_api import (
    DURATION_PATTERN,
    AlertId,
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

__all__ = ["feature_histograms", "prompt_versions", "router"]

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
    alert_id: AlertId, engine: EngineDep, principal: Annotated[Principal, Depends(require_scope("admin"))]
) -> RedirectResponse:
    """The Alerts page's ack button (admin): acknowledge, then show the page again."""
    acknowledge(engine, alert_id, principal)
    return RedirectResponse(f"/alerts#alert-{alert_id}", status_code=303)


# --------------------------------------------------------------------------- drift


Histogram = list[tuple[str, float | None, float | None]]


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [c / total if total else 0.0 for c in counts]


def feature_histograms(engine: Engine, report: DriftReportPublic) -> dict[str, Histogram]:
    """The whole reference-vs-current distribution of each compared numeric, language and refusal
    feature, binned like ``drift.py`` (numeric: at the reference's deciles), from the report's windows.

    The report itself keeps only the top bins; the page reads the features once more to draw all.
    """
    compared = {f.feature for f in report.features if f.psi is not None}
    reference = load_features(engine, [Window(w.start, w.end) for w in report.reference])
    current = load_features(engine, Window(report.current.start, report.current.end))
    histograms: dict[str, Histogram] = {}
    for name in NUMERIC_FEATURES:
        if name not in compared:
            continue
        ref = np.array([v for v in (t.numeric(name) for t in reference) if v is not None and math.isfinite(v)])
        cur = np.array([v for v in (t.numeric(name) for t in current) if v is not None and math.isfinite(v)])
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, 11)[1:-1]))
        labels = [f"< {edges[0]:.4g}"] + [f"[{a:.4g}, {b:.4g})" for a, b in itertools.pairwise(edges)]
        labels.append(f">= {edges[-1]:.4g}")
        size = len(edges) + 1
        ref_shares = _shares(np.bincount(np.searchsorted(edges, ref, side="right"), minlength=size).tolist())
        cur_shares = _shares(np.bincount(np.searchsorted(edges, cur, side="right"), minlength=size).tolist())
        histograms[name] = list(zip(labels, ref_shares, cur_shares, strict=True))
    for name in ("language", "refusal"):
        if name not in compared:
            continue
        ref_counter = Counter(str(getattr(t, name)) for t in reference)
        cur_counter = Counter(str(getattr(t, name)) for t in current)
        labels = sorted(set(ref_counter) | set(cur_counter), key=lambda k: -(ref_counter[k] + cur_counter[k]))[:12]
        ref_shares = [ref_counter[k] / max(len(reference), 1) for k in labels]
        cur_shares = [cur_counter[k] / max(len(current), 1) for k in labels]
        histograms[name] = list(zip(labels, ref_shares, cur_shares, strict=True))
    return histograms


def _drift_charts(engine: Engine, report: DriftReportPublic) -> dict[str, Any]:
    histograms = feature_histograms(engine, report)
    views = {}
    for item in report.features:
        full = histograms.get(item.feature)
        views[item.feature] = {
            "contributions": charts.bar_chart(
                [(b.label, b.contribution) for b in item.top_bins], title="Top bins by PSI contribution"
            ),
            "histogram": charts.paired_bar_chart(
                full if full is not None else [(b.label, b.reference_share, b.current_share) for b in item.top_bins],
                title="Share of traces: reference vs current" + ("" if full is not None else " (top bins)"),
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
        views=_drift_charts(engine, report),
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
