"""The monitor's fast path: trace metrics answered from the hourly roll-ups (``span_rollup_hour``).

Reading every root span of a day costs seconds at a million spans; the roll-ups hold a few
rows per hour and prompt version. ``compute_metric`` asks ``from_rollups`` first and falls back
to the exact span SQL when it returns None. The fast path answers when:

* the metric is ``volume``, ``error_rate`` or ``latency_p50/p90/p99`` (``ROLLUP_METRICS``);
* filters and group keys are only ``prompt_name`` / ``prompt_version`` (trace units in the
  roll-ups are keyed by the *root span's* prompt and carry no model, user, tag or metadata;
  tokens and cost live on LLM units keyed by the LLM call, which is not the per-trace mean the
  exact path computes -- those metrics stay exact SQL);
* the window is at least one hour. Whole-hour windows are read as they are; other windows are
  rounded to the nearest UTC hour at both ends (a ``1h`` rule evaluated at 12:20 reads 11:00 to
  12:00) and the value says ``approximate``.

Exactness: on a whole-hour window, volume and error rate equal the exact path (the roll-ups are
kept exact by the span insert); latency percentiles come from the roll-ups' log-scale histogram,
within ``latency_histogram.RELATIVE_ERROR`` (~9.05 %) of the exact ``numpy.percentile``, and are
marked ``approximate``. A trace whose prompt is stamped only on a child span (``prompt.render()``
inside a nested span) counts under the root's prompt here, under the stamped one in the exact
path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from llmmon.storage import latency_histogram
from llmmon.storage.models.rollups import span_rollup_hour
from llmmon.storage.repo import _connect
from llmmon.storage.rollups import hour_of

__all__ = ["ROLLUP_KEYS", "ROLLUP_METRICS", "RolledUp", "RollupWindow", "from_rollups", "rollup_window"]

ROLLUP_METRICS: frozenset[str] = frozenset({"volume", "error_rate", "latency_p50", "latency_p90", "latency_p99"})
ROLLUP_KEYS: frozenset[str] = frozenset({"prompt_name", "prompt_version"})
_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class RollupWindow:
    """The whole UTC hours ``[start, end)`` read for a window, and whether they were rounded."""

    start: datetime
    end: datetime
    rounded: bool


@dataclass(frozen=True)
class RolledUp:
    """One group's summed roll-up measures: units, errors and the latency histogram."""

    prompt_name: str
    prompt_version: str
    count: int
    errors: int
    histogram: tuple[int, ...]


def _nearest_hour(value: datetime) -> datetime:
    value = value.astimezone(UTC)
    floor = value.replace(minute=0, second=0, microsecond=0)
    return floor + _HOUR if value - floor >= _HOUR / 2 else floor


def rollup_window(start: datetime, end: datetime) -> RollupWindow | None:
    """The hours to read for ``[start, end)``; None for windows shorter than an hour."""
    if end - start < _HOUR:
        return None
    low, high = _nearest_hour(start), _nearest_hour(end)
    if high <= low:
        return None
    return RollupWindow(start=low, end=high, rounded=(low, high) != (start.astimezone(UTC), end.astimezone(UTC)))


def _can_answer(metric: str, filters: Mapping[str, str], group_by: tuple[str, ...]) -> bool:
    return metric in ROLLUP_METRICS and set(filters) <= ROLLUP_KEYS and set(group_by) <= ROLLUP_KEYS


def from_rollups(
    engine: Engine,
    metric: str,
    *,
    start: datetime,
    end: datetime,
    filters: Mapping[str, str],
    group_by: tuple[str, ...],
) -> tuple[RollupWindow, list[RolledUp]] | None:
    """The trace roll-ups of the window per (prompt name, prompt version); None when the fast
    path cannot answer this metric, filter, grouping or window (the caller runs the exact SQL)."""
    if not _can_answer(metric, filters, group_by):
        return None
    window = rollup_window(start, end)
    if window is None:
        return None
    table = span_rollup_hour
    conditions: list[Any] = [
        table.c.kind == "trace",
        table.c.is_eval.is_(False),
        table.c.hour >= hour_of(window.start),
        table.c.hour < hour_of(window.end),
    ]
    for key, value in filters.items():
        conditions.append(table.c[key] == value)
    sums = [func.sum(table.c[name]).label(name) for name in ("count", "errors", *latency_histogram.COLUMNS)]
    query = (
        select(table.c.prompt_name, table.c.prompt_version, *sums)
        .where(*conditions)
        .group_by(table.c.prompt_name, table.c.prompt_version)
    )
    with _connect(engine) as connection:
        rows = connection.execute(query).mappings().all()
    groups = [
        RolledUp(
            prompt_name=row["prompt_name"],
            prompt_version=row["prompt_version"],
            count=int(row["count"] or 0),
            errors=int(row["errors"] or 0),
            histogram=tuple(int(row[name] or 0) for name in latency_histogram.COLUMNS),
        )
        for row in rows
    ]
    return window, [group for group in groups if group.count > 0]
