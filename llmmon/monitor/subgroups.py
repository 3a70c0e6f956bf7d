"""Subgroup analysis: a metric broken down by a key (e.g. ``metadata:tier``), flagging worse groups.

Each group is compared with the rest of the traffic (all other groups pooled):

* rates (0/1 units: error, hallucination, thumbs-down, ...): Fisher's exact test when a
  2x2 cell is small, otherwise the two-proportion z-test (pooled variance);
* continuous metrics (latency, tokens, cost, judge score): the Mann-Whitney U test.

The tests are one-sided in the metric's bad direction (higher latency, lower judge score),
and the p-values of all groups are Holm-corrected together, so breaking traffic into many
groups does not manufacture findings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import stats
from sqlalchemy import Engine

from llmmon.errors import ConfigError
from llmmon.monitor.metrics import compute_metric, metric_spec, unit_values

__all__ = ["SubgroupResult", "analyse_subgroups", "holm"]

_SMALL_CELL = 5


@dataclass(frozen=True)
class SubgroupResult:
    """One group against the rest: the metric for each, the test, and whether it is worse."""

    labels: dict[str, str]
    value: float | None
    volume: int
    rest_value: float | None
    rest_volume: int
    test: str
    p_value: float | None
    adjusted_p_value: float | None
    worse: bool


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _rate_test(group: np.ndarray, rest: np.ndarray, *, higher_is_worse: bool) -> tuple[str, float]:
    bad_group, bad_rest = int(group.sum()), int(rest.sum())
    table = [[bad_group, len(group) - bad_group], [bad_rest, len(rest) - bad_rest]]
    if not higher_is_worse:
        table = [[row[1], row[0]] for row in table]
    if min(min(row) for row in table) < _SMALL_CELL:
        return "fisher", float(stats.fisher_exact(table, alternative="greater").pvalue)
    p1, p2 = table[0][0] / len(group), table[1][0] / len(rest)
    pooled = (table[0][0] + table[1][0]) / (len(group) + len(rest))
    se = math.sqrt(pooled * (1 - pooled) * (1 / len(group) + 1 / len(rest)))
    if se == 0:
        return "z", 1.0
    return "z", float(stats.norm.sf((p1 - p2) / se))


def analyse_subgroups(
    engine: Engine,
    metric: str,
    *,
    by: str,
    start: datetime,
    end: datetime,
    filters: Mapping[str, str] | None = None,
    alpha: float = 0.05,
    min_volume: int = 20,
) -> list[SubgroupResult]:
    """``metric`` per group of ``by`` and which groups are significantly worse than the rest."""
    spec = metric_spec(metric)
    if spec.aggregate in ("count", "kappa"):
        raise ConfigError(f"metric {metric!r} cannot be compared between subgroups; use a rate or a latency metric")
    groups = unit_values(engine, metric, start=start, end=end, filters=filters, group_by=by)
    values = {
        tuple(sorted(v.labels.items())): v
        for v in compute_metric(engine, metric, start=start, end=end, filters=filters, group_by=by)
    }
    arrays = [(labels, np.asarray(units, dtype=float)) for labels, units in groups]
    tested: list[tuple[int, str, float]] = []
    rows: list[dict[str, object]] = []
    for index, (labels, units) in enumerate(arrays):
        rest = np.concatenate([other for j, (_, other) in enumerate(arrays) if j != index] or [np.array([])])
        value = values.get(tuple(sorted(labels.items())))
        rest_value = None
        if len(rest):
            rest_value = (
                float(rest.mean())
                if spec.aggregate == "mean"
                else float(np.percentile(rest, (spec.per_mille or 500) / 10))
            )
            if spec.aggregate == "sum":
                rest_value = float(rest.sum())
        row: dict[str, object] = {
            "labels": labels,
            "value": value.value if value else None,
            "volume": len(units),
            "rest_value": rest_value,
            "rest_volume": len(rest),
            "test": "",
            "p_value": None,
        }
        if len(units) >= min_volume and len(rest) >= min_volume:
            if spec.binary:
                test, p_value = _rate_test(units, rest, higher_is_worse=spec.higher_is_worse)
            else:
                test = "mann-whitney"
                alternative = "greater" if spec.higher_is_worse else "less"
                p_value = float(stats.mannwhitneyu(units, rest, alternative=alternative).pvalue)
            row["test"], row["p_value"] = test, p_value
            tested.append((index, test, p_value))
        rows.append(row)
    adjusted = holm([p for _, _, p in tested])
    adjusted_by_index = {index: adjusted[k] for k, (index, _, _) in enumerate(tested)}
    results = []
    for index, row in enumerate(rows):
        adjusted_p = adjusted_by_index.get(index)
        results.append(
            SubgroupResult(
                labels=row["labels"],  # type: ignore[arg-type]
                value=row["value"],  # type: ignore[arg-type]
                volume=row["volume"],  # type: ignore[arg-type]
                rest_value=row["rest_value"],  # type: ignore[arg-type]
                rest_volume=row["rest_volume"],  # type: ignore[arg-type]
                test=str(row["test"]) or "too few units",
                p_value=row["p_value"],  # type: ignore[arg-type]
                adjusted_p_value=adjusted_p,
                worse=adjusted_p is not None and adjusted_p < alpha,
            )
        )
    return results
