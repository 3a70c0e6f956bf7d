"""Canary and A/B of prompt versions and models: sticky assignment and the canary report.

``choose("support-answer", user_id, {"v3": 90, "v4": 10})`` hashes ``name`` and ``user_id``
(sha256) into [0, 1) and walks the cumulative weights in the order given, so a user keeps
their variant across requests and processes, and raising the candidate's weight only moves
users *into* it (listed last, its range grows downwards). The choice is recorded on the current
span (attribute ``canary.<name>``; for prompt canaries also the span's prompt name/version).

``canary_report`` compares candidate with baseline on hallucination rate, thumbs-down rate,
judge score, latency and cost per answer, each with a confidence sequence (see
``sequential.py``), and gives a verdict: ``roll back`` as soon as the candidate is credibly
worse than the baseline by more than a metric's margin; ``promote`` once it is credibly no
worse on every metric with data; otherwise ``keep waiting`` with the candidate answers needed.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from llmmon.errors import ConfigError
from llmmon.monitor.sequential import ArmSummary, difference_interval, samples_needed, summarise
from llmmon.monitor.shadow import Shadow, shadow

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "CANARY_METRICS",
    "CanaryMetric",
    "CanaryReport",
    "MetricComparison",
    "Shadow",
    "canary_report",
    "choose",
    "run_rollback_hook",
    "shadow",
]

Verdict = Literal["promote", "keep waiting", "roll back"]


def _bucket(name: str, user_id: str) -> float:
    digest = hashlib.sha256(f"{name}\x00{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose(
    name: str,
    user_id: str | None,
    weights: Mapping[str, float],
    *,
    kind: Literal["prompt", "model"] = "prompt",
) -> str:
    """The variant of ``name`` for ``user_id``: sticky by hashing, random when there is no user.

    Usage::

        version = llmmon.canary.choose("support-answer", user.id, {"v3": 90, "v4": 10})
        messages = llmmon.prompt("support-answer", version).render(question=q)
    """
    if not weights:
        raise ConfigError(f"canary {name!r}: no variants given")
    if any(not isinstance(w, int | float) or w < 0 or math.isnan(w) for w in weights.values()):
        raise ConfigError(f"canary {name!r}: weights must be non-negative numbers, got {dict(weights)}")
    total = float(sum(weights.values()))
    if total <= 0:
        raise ConfigError(f"canary {name!r}: weights add up to 0")
    point = _bucket(name, user_id) if user_id is not None else random.random()
    variant = next(iter(weights))
    cumulative = 0.0
    for candidate, weight in weights.items():
        cumulative += weight / total
        if weight > 0 and point < cumulative:
            variant = candidate
            break
    else:  # float rounding at the top end: the last variant with weight
        variant = [v for v, w in weights.items() if w > 0][-1]
    _record(name, variant, kind=kind)
    return variant


def _record(name: str, variant: str, *, kind: str) -> None:
    from llmmon.tracing.context import current_span

    span = current_span()
    if span is None:
        return
    span.set_attribute(f"canary.{name}", variant)
    if kind == "prompt" and span.prompt_name in (None, name):
        span.prompt_name = name
        span.prompt_version = variant
    elif kind == "model" and span.model is None:
        span.model = variant


# -- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CanaryMetric:
    """A metric the report compares, and how much worse the candidate may be."""

    name: str  # a metric of llmmon.monitor.metrics with per-unit values
    label: str
    higher_is_worse: bool
    binary: bool
    margin: float  # absolute, or relative to the baseline mean when ``relative``
    relative: bool = False


CANARY_METRICS: tuple[CanaryMetric, ...] = (
    CanaryMetric("hallucination_rate", "hallucination rate", True, True, 0.02),
    CanaryMetric("thumbs_down_rate", "thumbs-down rate", True, True, 0.03),
    CanaryMetric("judge_score_mean", "judge score", False, False, 0.05),
    CanaryMetric("latency_p50", "latency per answer (mean, ms)", True, False, 0.10, relative=True),
    CanaryMetric("cost_per_answer", "cost per answer (USD)", True, False, 0.10, relative=True),
)


class MetricComparison(BaseModel):
    """One metric: both arms, the difference (candidate - baseline) with its interval, a call."""

    metric: str
    label: str
    baseline_n: int
    candidate_n: int
    baseline_mean: float | None
    candidate_mean: float | None
    difference: float | None
    low: float | None
    high: float | None
    margin: float
    status: Literal["worse", "not worse", "undecided", "no data"]
    candidate_n_needed: int | None = None


class CanaryReport(BaseModel):
    """The canary report: comparisons, the verdict, and what a rollback hook did."""

    prompt: str
    baseline: str
    candidate: str
    start: datetime
    end: datetime
    alpha: float
    method: str
    comparisons: list[MetricComparison]
    verdict: Verdict
    reason: str
    candidate_n_needed: int | None = None
    rollback_hook: str | None = None
    rollback_result: str | None = None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _compare(
    metric: CanaryMetric, baseline: ArmSummary, candidate: ArmSummary, *, alpha: float, min_n: int
) -> MetricComparison:
    if baseline.n == 0 or candidate.n == 0:
        return MetricComparison(
            metric=metric.name,
            label=metric.label,
            baseline_n=baseline.n,
            candidate_n=candidate.n,
            baseline_mean=_finite(baseline.mean) if baseline.n else None,
            candidate_mean=_finite(candidate.mean) if candidate.n else None,
            difference=None,
            low=None,
            high=None,
            margin=metric.margin,
            status="no data",
        )
    margin = metric.margin * abs(baseline.mean) if metric.relative else metric.margin
    interval = difference_interval(baseline, candidate, alpha=alpha)
    # Orient so that positive = candidate worse.
    sign = 1.0 if metric.higher_is_worse else -1.0
    worse_low, worse_high = sorted((sign * interval.low, sign * interval.high))
    enough = baseline.n >= min_n and candidate.n >= min_n
    needed = None
    if enough and worse_low > margin:
        status: Literal["worse", "not worse", "undecided"] = "worse"
    elif enough and worse_high < margin:
        status = "not worse"
    else:
        status = "undecided"
        gap = abs(sign * interval.estimate - margin)
        needed = samples_needed(baseline, candidate, gap=gap, alpha=alpha)
        if needed is not None:
            needed = max(needed, min_n)
    return MetricComparison(
        metric=metric.name,
        label=metric.label,
        baseline_n=baseline.n,
        candidate_n=candidate.n,
        baseline_mean=baseline.mean,
        candidate_mean=candidate.mean,
        difference=interval.estimate,
        low=_finite(interval.low),
        high=_finite(interval.high),
        margin=margin,
        status=status,
        candidate_n_needed=needed,
    )


def _arm_values(engine: Engine, metric: str, *, prompt: str, start: datetime, end: datetime) -> dict[str, list[float]]:
    from llmmon.monitor.metrics import unit_values

    groups = unit_values(
        engine, metric, start=start, end=end, filters={"prompt_name": prompt}, group_by="prompt_version"
    )
    return {labels.get("prompt_version", ""): values for labels, values in groups}


def canary_report(
    engine: Engine,
    *,
    prompt: str,
    baseline: str,
    candidate: str,
    start: datetime,
    end: datetime,
    alpha: float = 0.05,
    min_n: int = 30,
    metrics: tuple[CanaryMetric, ...] = CANARY_METRICS,
    rollback: str | Callable[[CanaryReport], Any] | None = None,
) -> CanaryReport:
    """Compare ``candidate`` with ``baseline`` over ``[start, end)`` and decide; call ``rollback``
    (``pkg.mod:fn``, a callable, or a webhook URL) when the verdict is ``roll back``."""
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    if baseline == candidate:
        raise ConfigError("baseline and candidate are the same version")
    comparisons = []
    for metric in metrics:
        arms = _arm_values(engine, metric.name, prompt=prompt, start=start, end=end)
        comparisons.append(
            _compare(
                metric,
                summarise(arms.get(baseline, []), binary=metric.binary),
                summarise(arms.get(candidate, []), binary=metric.binary),
                alpha=alpha,
                min_n=min_n,
            )
        )
    worse = [c for c in comparisons if c.status == "worse"]
    with_data = [c for c in comparisons if c.status != "no data"]
    needed = [c.candidate_n_needed for c in comparisons if c.status == "undecided"]
    verdict: Verdict
    if worse:
        verdict, reason = "roll back", "candidate is worse on " + ", ".join(c.label for c in worse)
        n_needed = None
    elif with_data and all(c.status == "not worse" for c in with_data):
        verdict, reason, n_needed = "promote", "candidate is no worse on every metric with data", None
    else:
        verdict = "keep waiting"
        known = [n for n in needed if n is not None]
        n_needed = max(known) if known and len(known) == len(needed) else None
        if not with_data:
            reason = f"no traffic for {baseline!r} and {candidate!r} of prompt {prompt!r} yet"
        elif n_needed is None:
            reason = "undecided; the difference sits on a margin, more traffic may not settle it soon"
        else:
            reason = f"undecided; about {n_needed} candidate answers needed"
    report = CanaryReport(
        prompt=prompt,
        baseline=baseline,
        candidate=candidate,
        start=start,
        end=end,
        alpha=alpha,
        method="asymptotic confidence sequences (Waudby-Smith et al. 2024), per arm at alpha/2",
        comparisons=comparisons,
        verdict=verdict,
        reason=reason,
        candidate_n_needed=n_needed,
    )
    if verdict == "roll back" and rollback is not None:
        report.rollback_hook = rollback if isinstance(rollback, str) else getattr(rollback, "__name__", "callable")
        report.rollback_result = run_rollback_hook(rollback, report)
    return report


def run_rollback_hook(hook: str | Callable[[CanaryReport], Any], report: CanaryReport) -> str:
    """Call the rollback hook; returns what happened (never raises: the report must still print)."""
    try:
        if callable(hook):
            return f"called: {hook(report)!r}"
        if "://" in hook:
            from llmmon.monitor.notify import WebhookNotifier

            with WebhookNotifier() as notifier:
                payload = {"text": f"Canary roll back: {report.prompt} {report.candidate} -> {report.baseline}"}
                payload["report"] = json.loads(report.model_dump_json())
                delivery = notifier.send(hook, payload, event="rollback")
            return "delivered" if delivery.ok else f"failed: {delivery.error}"
        module_name, _, attribute = hook.partition(":")
        if not module_name or not attribute:
            return f"failed: rollback hook {hook!r} is neither a URL nor pkg.module:function"
        function = getattr(importlib.import_module(module_name), attribute)
        return f"called: {function(report)!r}"
    except Exception as exc:  # a user's hook may fail in any way; the report records it
        return f"failed: {type(exc).__name__}: {exc}"
