"""The live model card: the state of each prompt version over a period, as Markdown or HTML.

Per prompt version (``prompt_name``/``prompt_version`` of its traces): volume, models used,
p99 latency, error rate, hallucination rate with its daily trend, thumbs-down rate, cost,
drift status (the last day against the rest of the period), open alerts, and the last eval
gate result (``eval_run`` whose ``--label`` is the version). The HTML form adds inline SVG
charts (``llmmon.server.charts``) of the daily hallucination rate and p99 latency.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from html import escape
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from llmmon.monitor.alerts import list_alerts
from llmmon.monitor.metrics import compute_metric
from llmmon.monitor.windows import Window, to_utc
from llmmon.storage.models.evals import EvalRun

__all__ = ["ModelCard", "VersionCard", "build_model_card", "card_json", "render_html", "render_markdown"]

_SUMMARY_METRICS = (
    "volume",
    "latency_p99",
    "error_rate",
    "hallucination_rate",
    "thumbs_down_rate",
    "cost_total",
    "cost_per_answer",
)
_TREND_METRICS = ("hallucination_rate", "latency_p99")


class VersionCard(BaseModel):
    """One prompt version's section of the card."""

    prompt_name: str
    prompt_version: str
    models: list[str]
    metrics: dict[str, float | None]
    trend: dict[str, dict[str, float | None]]  # metric -> day -> value
    hallucination_trend: Literal["rising", "falling", "flat", "n/a"]
    drifted_features: list[str] | None  # None: not enough traffic to tell
    open_alerts: list[str]
    last_gate: str | None


class ModelCard(BaseModel):
    """The whole card: the period and one section per prompt version (busiest first)."""

    start: datetime
    end: datetime
    days: list[str]
    versions: list[VersionCard]


def _key(labels: dict[str, str]) -> tuple[str, str]:
    return labels.get("prompt_name", "-"), labels.get("prompt_version", "-")


def _direction(points: list[float | None]) -> Literal["rising", "falling", "flat", "n/a"]:
    values = [p for p in points if p is not None]
    if len(values) < 2:
        return "n/a"
    half = len(values) // 2
    before, after = sum(values[:half]) / half, sum(values[half:]) / (len(values) - half)
    if abs(after - before) < 0.01:
        return "flat"
    return "rising" if after > before else "falling"


def _drift(engine: Engine, prompt_name: str, version: str, start: datetime, end: datetime) -> list[str] | None:
    from llmmon.monitor.drift import compute_drift

    current = Window(start=max(start, end - timedelta(days=1)), end=end)
    if current.start <= start:
        return None
    report = compute_drift(
        engine,
        current=current,
        reference=Window(start=start, end=current.start),
        filters={"prompt_name": prompt_name, "prompt_version": version},
    )
    compared = [f for f in report.features if f.psi is not None]
    if not compared:
        return None
    return [f.feature for f in report.drifted]


def _last_gate(engine: Engine, version: str) -> str | None:
    with Session(engine) as session:
        run = session.exec(
            select(EvalRun).where(EvalRun.label == version).order_by(col(EvalRun.started_at).desc()).limit(1)
        ).first()
    if run is None:
        return None
    decision = run.decision or run.status
    when = f"{to_utc(run.started_at):%Y-%m-%d}"
    return f"{decision} ({run.suite_name}, run {run.id}, {when}; {run.passed} passed, {run.failed} failed)"


def build_model_card(engine: Engine, *, start: datetime, end: datetime) -> ModelCard:
    """Collect the card's numbers over ``[start, end)`` from the metric registry."""
    start, end = to_utc(start), to_utc(end)
    summary: dict[tuple[str, str], dict[str, float | None]] = defaultdict(dict)
    for metric in _SUMMARY_METRICS:
        for value in compute_metric(engine, metric, start=start, end=end, group_by="prompt_version"):
            summary[_key(value.labels)][metric] = float(value.volume) if metric == "volume" else value.value
    for values in summary.values():  # a version with no votes (say) has no group for that metric
        for metric in _SUMMARY_METRICS:
            values.setdefault(metric, 0.0 if metric == "volume" else None)
    trends: dict[tuple[str, str], dict[str, dict[str, float | None]]] = defaultdict(lambda: defaultdict(dict))
    days: set[str] = set()
    for metric in _TREND_METRICS:
        for value in compute_metric(engine, metric, start=start, end=end, group_by=("prompt_version", "day")):
            day = value.labels.get("day", "-")
            days.add(day)
            trends[_key(value.labels)][metric][day] = value.value
    models: dict[tuple[str, str], list[str]] = {}
    for value in compute_metric(engine, "volume", start=start, end=end, group_by=("prompt_version", "model")):
        if value.volume:
            models.setdefault(_key(value.labels), []).append(value.labels.get("model", "-"))
    alerts: dict[tuple[str, str], list[str]] = defaultdict(list)
    for alert in list_alerts(engine, state="active", limit=1000):
        line = f"#{alert.id} {alert.rule_id} ({alert.severity}): {alert.message}"
        if "prompt_version" in alert.labels:
            alerts[_key(alert.labels)].append(line)
        else:
            for key in summary:
                alerts[key].append(line)
    ordered_days = sorted(days)
    cards = []
    for key, values in sorted(summary.items(), key=lambda item: -(item[1].get("volume") or 0)):
        prompt_name, version = key
        trend = {metric: dict(trends[key][metric]) for metric in _TREND_METRICS}
        hallucination_points = [trend["hallucination_rate"].get(day) for day in ordered_days]
        cards.append(
            VersionCard(
                prompt_name=prompt_name,
                prompt_version=version,
                models=sorted(models.get(key, [])),
                metrics=values,
                trend=trend,
                hallucination_trend=_direction(hallucination_points),
                drifted_features=_drift(engine, prompt_name, version, start, end) if version != "-" else None,
                open_alerts=alerts.get(key, []),
                last_gate=_last_gate(engine, version),
            )
        )
    return ModelCard(start=start, end=end, days=ordered_days, versions=cards)


# -- rendering --------------------------------------------------------------------------------


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if metric == "volume":
        return f"{value:,.0f}"
    if metric.endswith("_rate"):
        return f"{value:.1%}"
    if metric.startswith("latency"):
        return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"
    if metric.startswith("cost"):
        return f"${value:,.4f}"
    return f"{value:.3g}"


_LABELS = {
    "volume": "Volume (traces)",
    "latency_p99": "p99 latency",
    "error_rate": "Error rate",
    "hallucination_rate": "Hallucination rate",
    "thumbs_down_rate": "Thumbs-down rate",
    "cost_total": "Cost",
    "cost_per_answer": "Cost per answer",
}


def _drift_text(card: VersionCard) -> str:
    if card.drifted_features is None:
        return "not enough traffic to tell"
    return "drifted: " + ", ".join(card.drifted_features) if card.drifted_features else "stable"


def render_markdown(card: ModelCard) -> str:
    """The card as Markdown (for a PR, a wiki page, a chat message)."""
    lines = [f"# Model card: {card.start:%Y-%m-%d %H:%M} – {card.end:%Y-%m-%d %H:%M} UTC", ""]
    if not card.versions:
        lines.append("No traffic in this period.")
    for version in card.versions:
        lines += [f"## {version.prompt_name} {version.prompt_version}", ""]
        lines += ["| | |", "|---|---|"]
        lines.append(f"| Models | {', '.join(version.models) or '–'} |")
        for metric, label in _LABELS.items():
            value = _fmt(metric, version.metrics.get(metric))
            if metric == "hallucination_rate":
                value += f" ({version.hallucination_trend})"
            lines.append(f"| {label} | {value} |")
        lines.append(f"| Drift | {_drift_text(version)} |")
        lines.append(f"| Last eval gate | {version.last_gate or 'none recorded'} |")
        lines.append("")
        days = [day for day in card.days if version.trend["hallucination_rate"].get(day) is not None]
        if days:
            lines.append(
                "Daily hallucination rate: "
                + ", ".join(
                    f"{day} {_fmt('hallucination_rate', version.trend['hallucination_rate'][day])}" for day in days
                )
            )
            lines.append("")
        lines.append(f"Open alerts ({len(version.open_alerts)}):" if version.open_alerts else "Open alerts: none")
        lines += [f"- {alert}" for alert in version.open_alerts]
        lines.append("")
    return "\n".join(lines)


def render_html(card: ModelCard) -> str:
    """The card as one self-contained HTML page with inline SVG charts."""
    from llmmon.server.charts import line_chart

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>llmmon model card</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#111}"
        "table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}"
        ".alert{color:#b91c1c}</style></head><body>",
        f"<h1>Model card</h1><p>{card.start:%Y-%m-%d %H:%M} – {card.end:%Y-%m-%d %H:%M} UTC</p>",
    ]
    if not card.versions:
        parts.append("<p>No traffic in this period.</p>")
    for version in card.versions:
        title = escape(f"{version.prompt_name} {version.prompt_version}")
        parts.append(f"<section><h2>{title}</h2><table>")
        parts.append(f"<tr><th>Models</th><td>{escape(', '.join(version.models) or '–')}</td></tr>")
        for metric, label in _LABELS.items():
            value = _fmt(metric, version.metrics.get(metric))
            if metric == "hallucination_rate":
                value += f" ({version.hallucination_trend})"
            parts.append(f"<tr><th>{label}</th><td>{escape(value)}</td></tr>")
        parts.append(f"<tr><th>Drift</th><td>{escape(_drift_text(version))}</td></tr>")
        parts.append(f"<tr><th>Last eval gate</th><td>{escape(version.last_gate or 'none recorded')}</td></tr>")
        parts.append("</table>")
        if card.days:
            rates = [version.trend["hallucination_rate"].get(day) for day in card.days]
            latencies = [version.trend["latency_p99"].get(day) for day in card.days]
            parts.append(
                str(
                    line_chart(
                        card.days,
                        [("hallucination rate", rates)],
                        title="Hallucination rate by day",
                        fmt=lambda v: f"{v:.0%}",
                    )
                )
            )
            parts.append(str(line_chart(card.days, [("p99 latency (ms)", latencies)], title="p99 latency by day")))
        if version.open_alerts:
            parts.append("<h3>Open alerts</h3><ul>")
            parts += [f"<li class='alert'>{escape(alert)}</li>" for alert in version.open_alerts]
            parts.append("</ul>")
        else:
            parts.append("<p>Open alerts: none</p>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def card_json(card: ModelCard) -> dict[str, Any]:
    """The card as plain JSON-able data."""
    data: dict[str, Any] = json.loads(card.model_dump_json())
    return data
