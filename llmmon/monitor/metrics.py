"""The metric registry: named quality, latency and cost metrics over a window, computed in SQL.

``compute_metric(engine, "latency_p99", start=..., end=..., filters={"model": "gpt-4o-mini"},
group_by="prompt_version")`` returns one ``MetricValue`` per group: its labels, the value
(None when the group has no unit to measure) and the volume it was measured on, so an alert
rule can require a minimum volume. The alert rules, the CLI, subgroup analysis and the model
card all go through this registry.

Each metric is a *unit query* (one row per measured unit: a trace, a checked answer, a claim,
a voted trace) plus an *aggregate* over the units of each group (count, mean, sum, a
percentile interpolated exactly like ``numpy.percentile``, or Cohen's kappa from confusion
counts). Both run as one SQL statement that behaves the same on SQLite and PostgreSQL; time
windows are compared with the timestamps stored in the database.

Definitions (units are traces that started in the window unless said otherwise):

* ``volume``: traces. ``error_rate``: root span status ``error``.
* ``latency_p50/p90/p99``: root span latency. ``ttft_p50/p99``: time to first token of the
  trace's first LLM call (traces with a streamed LLM call only).
* ``tokens_per_answer``: tokens of the trace's LLM spans; ``cost_per_answer`` and
  ``cost_total``: cost of all its spans (traces with a known cost). A 1-day window gives the
  cost per day.
* ``hallucination_rate``: checked traces (``answer_check``) with at least one contradicted
  claim / checked traces. ``unsupported_claim_rate``: claims of checked traces that are not
  ``supported`` (contradicted or unverifiable) / claims.
* ``judge_score_mean``: mean over judged traces of the trace's mean judge score (the worker's
  ``judge_score`` table: ``value`` in [0, 1], status ``scored``); None while that table is
  not installed (the judge's own spans carry no link to the trace they judged).
* ``thumbs_down_rate``: voted traces whose current vote is negative / voted traces.
* ``regeneration_rate``: traces with a session after which the same session asked again
  within ``REGENERATION_SECONDS`` of the answer's end / traces with a session -- a proxy for
  "the answer did not help" that is available long before ground truth is.
* ``judge_human_kappa``: Cohen's kappa between the automatic verdict on a trace (its answer
  check: ``hallucinated`` = bad, ``supported`` = good) and the users' vote (down = bad, up =
  good), over traces that have both. A falling kappa means the checker and the users disagree
  more: the judge (or the users' expectations) drifted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine, Float, Integer, Table, and_, case, cast, exists, func, literal, or_, select
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import SQLModel

from llmmon.errors import ConfigError
from llmmon.monitor.rollup_metrics import from_rollups
from llmmon.monitor.units import (
    PROMPT_SEPARATOR,
    Scope,
    group_keys,
    key_columns,
    labels_of,
    seconds_between,
    tags_in_window,
    trace_units,
)
from llmmon.storage import latency_histogram
from llmmon.storage.models import AnswerCheck, ClaimCheck, Span
from llmmon.storage.repo import _connect

__all__ = [
    "CHECK_CLOCK_SLACK",
    "JUDGE_SCORE_TABLE",
    "METRICS",
    "REGENERATION_SECONDS",
    "MetricSpec",
    "MetricValue",
    "cohen_kappa",
    "compute_metric",
    "known_filters",
    "metric_spec",
    "unit_values",
]

REGENERATION_SECONDS = 60.0
CHECK_CLOCK_SLACK = timedelta(hours=1)
JUDGE_SCORE_TABLE = "judge_score"
Aggregate = Literal["count", "mean", "sum", "percentile", "kappa"]
_SPAN: Any = Span.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class MetricValue:
    """The value of a metric for one group (``labels``) and the number of units behind it."""

    labels: dict[str, str]
    value: float | None
    volume: int
    approximate: bool = False  # from the roll-ups: a histogram percentile or a window rounded to hours


@dataclass(frozen=True)
class MetricSpec:
    """What a metric measures, how to aggregate its units, and which direction is bad."""

    name: str
    description: str
    unit: str
    aggregate: Aggregate
    higher_is_worse: bool
    binary: bool = False  # units are 0/1 outcomes (a rate): subgroups compare proportions
    per_mille: int | None = None  # the percentile, for aggregate == "percentile"
    source: str = "latency"  # which unit query computes it (see _UNIT_QUERIES)


def _spec(name: str, description: str, unit: str, aggregate: Aggregate, **options: Any) -> tuple[str, MetricSpec]:
    options.setdefault("higher_is_worse", True)
    return name, MetricSpec(name=name, description=description, unit=unit, aggregate=aggregate, **options)


METRICS: dict[str, MetricSpec] = dict(
    [
        _spec("volume", "traces started in the window", "traces", "count", source="trace", higher_is_worse=False),
        _spec("latency_p50", "median trace latency", "ms", "percentile", per_mille=500, source="latency"),
        _spec("latency_p90", "90th percentile trace latency", "ms", "percentile", per_mille=900, source="latency"),
        _spec("latency_p99", "99th percentile trace latency", "ms", "percentile", per_mille=990, source="latency"),
        _spec("ttft_p50", "median time to first token", "ms", "percentile", per_mille=500, source="ttft"),
        _spec("ttft_p99", "99th percentile time to first token", "ms", "percentile", per_mille=990, source="ttft"),
        _spec("error_rate", "share of traces that failed", "ratio", "mean", binary=True, source="error"),
        _spec("tokens_per_answer", "LLM tokens per trace", "tokens", "mean", source="tokens"),
        _spec("cost_per_answer", "cost per trace", "usd", "mean", source="cost"),
        _spec("cost_total", "cost of the window's traces", "usd", "sum", source="cost"),
        _spec(
            "hallucination_rate",
            "share of checked answers with a contradicted claim",
            "ratio",
            "mean",
            binary=True,
            source="hallucination",
        ),
        _spec(
            "unsupported_claim_rate",
            "share of checked claims not supported by the knowledge base",
            "ratio",
            "mean",
            binary=True,
            source="unsupported",
        ),
        _spec(
            "judge_score_mean",
            "mean judge score (0..1) of judged traces",
            "score",
            "mean",
            source="judge",
            higher_is_worse=False,
        ),
        _spec("thumbs_down_rate", "share of voted traces voted down", "ratio", "mean", binary=True, source="votes"),
        _spec(
            "regeneration_rate",
            f"share of session traces followed by another ask within {REGENERATION_SECONDS:g} s",
            "ratio",
            "mean",
            binary=True,
            source="regeneration",
        ),
        _spec(
            "judge_human_kappa",
            "Cohen's kappa between the answer check verdict and the users' votes",
            "kappa",
            "kappa",
            source="agreement",
            higher_is_worse=False,
        ),
    ]
)


def metric_spec(name: str) -> MetricSpec:
    """The spec of a metric; ConfigError naming the known metrics otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        raise ConfigError(f"unknown metric {name!r}; known metrics: {', '.join(sorted(METRICS))}") from None


# --------------------------------------------------------------------------- unit queries
# Each returns a SELECT with columns ``key`` and ``value`` (``judge_bad`` and ``human_bad`` for
# the agreement query): one row per measured unit.


def _trace_query(engine: Engine, scope: Scope) -> Select[Any]:
    units = trace_units(engine, scope, members=False)
    return select(*key_columns(units), literal(1).label("value")).select_from(units)


def _latency_query(engine: Engine, scope: Scope) -> Select[Any]:
    units = trace_units(engine, scope, members=False)
    return select(*key_columns(units), units.c.latency_ms.label("value"))


def _error_query(engine: Engine, scope: Scope) -> Select[Any]:
    units = trace_units(engine, scope, members=False)
    return select(*key_columns(units), case((units.c.status == "error", 1), else_=0).label("value"))


def _column_query(column: str) -> Callable[[Engine, Scope], Select[Any]]:
    def query(engine: Engine, scope: Scope) -> Select[Any]:
        units = trace_units(engine, scope)
        return select(*key_columns(units), units.c[column].label("value")).where(units.c[column].is_not(None))

    return query


def _hallucination_query(engine: Engine, scope: Scope) -> Select[Any]:
    # One pass: units joined to their answer checks, grouped per trace (an IN over the unit
    # subquery makes SQLite re-run it per row).
    answer = AnswerCheck.__table__  # type: ignore[attr-defined]
    claim = ClaimCheck.__table__  # type: ignore[attr-defined]
    units = trace_units(
        engine, scope, members=False, within=_checked_since(answer.c.trace_id, answer.c.created_at, scope)
    )
    contradicted = exists().where(claim.c.answer_check_id == answer.c.id, claim.c.verdict == "contradicted")
    keys = key_columns(units)
    return (
        select(*keys, func.max(case((contradicted, 1), else_=0)).label("value"))
        .select_from(units.join(answer, answer.c.trace_id == units.c.trace_id))
        .group_by(units.c.trace_id, *keys)
    )


def _unsupported_query(engine: Engine, scope: Scope) -> Select[Any]:
    units = trace_units(engine, scope)
    claim = ClaimCheck.__table__  # type: ignore[attr-defined]
    value = case((claim.c.verdict == "supported", 0), else_=1)
    joined = units.join(claim, claim.c.trace_id == units.c.trace_id)
    return select(*key_columns(units), value.label("value")).select_from(joined)


def _checked_since(trace_id: Any, at: Any, scope: Scope) -> Select[Any]:
    """Trace ids of checks or votes written since the window started (indexed by time).

    A check or vote comes after the answer it is about, so one written before the window
    cannot be about a trace that started in it: the time index narrows the candidates and the
    traces are then looked up by their indexed trace id. ``CHECK_CLOCK_SLACK`` covers clock
    skew between the application that stamped the trace and the worker or server that wrote the
    check or vote.
    """
    return select(trace_id).where(at >= scope.start - CHECK_CLOCK_SLACK, trace_id.is_not(None))


def _feedback_table() -> Table | None:
    import llmmon.storage.models.server  # noqa: F401  (registers the feedback table)

    return SQLModel.metadata.tables.get("feedback")


def _votes_query(engine: Engine, scope: Scope) -> Select[Any]:
    # Joined straight to the feedback table (indexed by trace_id) and grouped per trace: a
    # join to a grouped vote subquery has no index and made SQLite scan it per unit.
    table = _feedback_table()
    if table is None:
        units = trace_units(engine, scope, members=False)
        return select(*key_columns(units), literal(0).label("value")).select_from(units).where(literal(False))
    units = trace_units(
        engine, scope, members=False, within=_checked_since(table.c.trace_id, table.c.updated_at, scope)
    )
    keys = key_columns(units)
    return (
        select(*keys, func.max(case((table.c.score < 0, 1), else_=0)).label("value"))
        .select_from(units.join(table, table.c.trace_id == units.c.trace_id))
        .group_by(units.c.trace_id, *keys)
    )


def _judge_query(engine: Engine, scope: Scope) -> Select[Any]:
    units = trace_units(engine, scope)
    table = SQLModel.metadata.tables.get(JUDGE_SCORE_TABLE)
    if table is None or "trace_id" not in table.c or "value" not in table.c:
        return select(*key_columns(units), literal(0.0).label("value")).select_from(units).where(literal(False))
    scored: list[ColumnElement[bool]] = [table.c.value.is_not(None)]
    if "status" in table.c:
        scored.append(table.c.status == "scored")
    keys = key_columns(units)
    return (
        select(*keys, func.avg(table.c.value).label("value"))
        .select_from(units.join(table, table.c.trace_id == units.c.trace_id))
        .where(*scored)
        .group_by(units.c.trace_id, *keys)
    )


def _regeneration_query(engine: Engine, scope: Scope) -> Select[Any]:

    units = trace_units(engine, scope)
    root = _SPAN.alias("sroot")
    horizon = scope.end + timedelta(seconds=REGENERATION_SECONDS)
    # The next ask of the same session, over all of its traces (not only the filtered ones),
    # including asks just after the window.
    sessions = (
        select(
            root.c.trace_id.label("trace_id"),
            func.lead(root.c.start_time)
            .over(partition_by=root.c.session_id, order_by=(root.c.start_time, root.c.trace_id))
            .label("next_start"),
        )
        .where(
            root.c.parent_span_id.is_(None),
            root.c.is_eval.is_(False),
            root.c.session_id.is_not(None),
            root.c.start_time >= scope.start,
            root.c.start_time < horizon,
        )
        .subquery("sessions")
    )
    gap = seconds_between(engine, units.c.end_time, sessions.c.next_start)
    again = case((and_(sessions.c.next_start.is_not(None), gap <= REGENERATION_SECONDS), 1), else_=0)
    joined = units.join(sessions, sessions.c.trace_id == units.c.trace_id)
    return select(*key_columns(units), again.label("value")).select_from(joined)


def _agreement_query(engine: Engine, scope: Scope) -> Select[Any]:
    units = trace_units(engine, scope)
    answer = AnswerCheck.__table__  # type: ignore[attr-defined]
    table = _feedback_table()
    if table is None:
        nothing = (literal(0).label("judge_bad"), literal(0).label("human_bad"))
        return select(*key_columns(units), *nothing).select_from(units).where(literal(False))
    keys = key_columns(units)
    joined = units.join(answer, answer.c.trace_id == units.c.trace_id).join(table, table.c.trace_id == units.c.trace_id)
    return (
        select(
            *keys,
            func.max(case((answer.c.verdict == "hallucinated", 1), else_=0)).label("judge_bad"),
            func.max(case((table.c.score < 0, 1), else_=0)).label("human_bad"),
        )
        .select_from(joined)
        .where(or_(answer.c.verdict == "hallucinated", answer.c.verdict == "supported"))
        .group_by(units.c.trace_id, *keys)
    )


_UNIT_QUERIES: dict[str, Callable[[Engine, Scope], Select[Any]]] = {
    "trace": _trace_query,
    "latency": _latency_query,
    "ttft": _column_query("ttft_ms"),
    "error": _error_query,
    "tokens": _column_query("total_tokens"),
    "cost": _column_query("cost_usd"),
    "hallucination": _hallucination_query,
    "unsupported": _unsupported_query,
    "judge": _judge_query,
    "votes": _votes_query,
    "regeneration": _regeneration_query,
    "agreement": _agreement_query,
}


# --------------------------------------------------------------------------- aggregates


def _aggregate_query(spec: MetricSpec, values: Any) -> Select[Any]:
    """``key_<i>..., volume, value`` (or the kappa cells) per group over a unit subquery."""
    keys = key_columns(values)
    if spec.aggregate == "count":
        counted = select(*keys, func.count().label("volume"), func.count().label("value"))
        return counted.select_from(values).group_by(*keys)
    if spec.aggregate in ("mean", "sum"):
        aggregate = func.avg if spec.aggregate == "mean" else func.sum
        return (
            select(*keys, func.count().label("volume"), aggregate(cast(values.c.value, Float)).label("value"))
            .select_from(values)
            .group_by(*keys)
        )
    if spec.aggregate == "kappa":
        cells = {
            "both_bad": and_(values.c.judge_bad == 1, values.c.human_bad == 1),
            "judge_only": and_(values.c.judge_bad == 1, values.c.human_bad == 0),
            "human_only": and_(values.c.judge_bad == 0, values.c.human_bad == 1),
        }
        return (
            select(
                *keys,
                func.count().label("volume"),
                *(func.sum(case((condition, 1), else_=0)).label(name) for name, condition in cells.items()),
            )
            .select_from(values)
            .group_by(*keys)
        )
    # Percentile with numpy's linear interpolation: h = (n-1)p; in 1-based ranks the weight
    # (1 - frac) goes on rank floor(h)+1 and frac on rank floor(h)+2. Integer per-mille
    # arithmetic keeps both databases exact.
    assert spec.per_mille is not None
    partition = keys or None
    ranked = select(
        *keys,
        values.c.value,
        func.row_number().over(partition_by=partition, order_by=values.c.value).label("rn"),
        func.count().over(partition_by=partition).label("n"),
    ).subquery("ranked")
    ranked_keys = key_columns(ranked)
    n = cast(ranked.c.n, Integer)
    rank = cast(ranked.c.rn, Integer)
    scaled = (n - 1) * spec.per_mille
    low = scaled // 1000
    frac = cast(scaled % 1000, Float) / 1000.0
    weight = case((rank == low + 1, 1.0 - frac), (rank == low + 2, frac), else_=0.0)
    return (
        select(
            *ranked_keys,
            func.count().label("volume"),
            func.sum(cast(ranked.c.value, Float) * weight).label("value"),
        )
        .select_from(ranked)
        .group_by(*ranked_keys)
    )


def cohen_kappa(both_bad: int, judge_only: int, human_only: int, both_good: int) -> float | None:
    """Cohen's kappa of two binary raters from their confusion counts (None when undefined)."""
    n = both_bad + judge_only + human_only + both_good
    if n == 0:
        return None
    observed = (both_bad + both_good) / n
    judge_bad = (both_bad + judge_only) / n
    human_bad = (both_bad + human_only) / n
    expected = judge_bad * human_bad + (1 - judge_bad) * (1 - human_bad)
    if expected >= 1.0:
        return None  # both raters said the same thing about every trace: agreement beyond chance is undefined
    return (observed - expected) / (1 - expected)


def _value_of(spec: MetricSpec, row: Any) -> float | None:
    volume = int(row["volume"])
    if spec.aggregate == "kappa":
        both_bad, judge_only, human_only = (int(row[k] or 0) for k in ("both_bad", "judge_only", "human_only"))
        return cohen_kappa(both_bad, judge_only, human_only, volume - both_bad - judge_only - human_only)
    if volume == 0 or row["value"] is None:
        return None
    return float(row["value"])


# --------------------------------------------------------------------------- public API


def _scopes(engine: Engine, scope: Scope) -> list[tuple[dict[str, str], Scope]]:
    """The scope itself, or one scope per tag when grouping by tag (a trace may carry several)."""
    if "tag" not in scope.group_by:
        return [({}, scope)]
    rest = tuple(key for key in scope.group_by if key != "tag")
    result = []
    for tag in tags_in_window(engine, scope):
        if "tag" in scope.filters and scope.filters["tag"] != tag:
            continue
        filters = {**scope.filters, "tag": tag}
        result.append(({"tag": tag}, Scope(start=scope.start, end=scope.end, filters=filters, group_by=rest)))
    return result


def _rolled_up(engine: Engine, spec: MetricSpec, scope: Scope) -> list[MetricValue] | None:
    """The metric from the hourly roll-ups, or None when they cannot answer it (see rollup_metrics)."""
    found = from_rollups(
        engine, spec.name, start=scope.start, end=scope.end, filters=scope.filters, group_by=scope.group_by
    )
    if found is None:
        return None
    window, groups = found
    merged: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[int]]] = {}
    for group in groups:
        keys: list[str | None] = []
        for key in scope.group_by:
            if key == "prompt_name":
                keys.append(group.prompt_name or None)
            else:
                version = group.prompt_version
                keys.append(f"{group.prompt_name}{PROMPT_SEPARATOR}{version}" if version else None)
        labels = labels_of(scope.group_by, keys)
        entry = merged.setdefault(tuple(sorted(labels.items())), (labels, [0, 0, *[0] * len(group.histogram)]))
        sums = entry[1]
        sums[0] += group.count
        sums[1] += group.errors
        for index, count in enumerate(group.histogram, start=2):
            sums[index] += count
    approximate = window.rounded or spec.aggregate == "percentile"
    results: list[MetricValue] = []
    for labels, sums in merged.values():
        count, errors = sums[0], sums[1]
        value: float | None
        if spec.aggregate == "count":
            value = float(count)
        elif spec.aggregate == "percentile":
            assert spec.per_mille is not None
            value = latency_histogram.percentile(sums[2:], spec.per_mille / 10)
        else:
            value = errors / count
        results.append(MetricValue(labels=labels, value=value, volume=count, approximate=approximate))
    if not scope.group_by and not results:
        results.append(MetricValue(labels={}, value=None, volume=0, approximate=window.rounded))
    results.sort(key=lambda item: sorted(item.labels.items()))
    return results


def _row_keys(row: Any, count: int) -> list[Any]:
    return [row[f"key_{index}"] for index in range(count)]


def compute_metric(
    engine: Engine,
    name: str,
    *,
    start: datetime,
    end: datetime,
    filters: Mapping[str, str] | None = None,
    group_by: str | Sequence[str] | None = None,
    exact: bool = False,
) -> list[MetricValue]:
    """The metric ``name`` over ``[start, end)`` per group, sorted by labels.

    Volume, error rate and latency percentiles over windows of an hour or more, filtered and
    grouped by prompt only, are read from the hourly roll-ups (``rollup_metrics``; values say
    ``approximate`` when a percentile or a rounded window is involved); ``exact=True`` always
    runs the span SQL.

    ``group_by``: one key or several (``["model", "metadata:tier"]``). Without it the result is
    one value (labels ``{}``), with volume 0 and value None when the window has nothing to
    measure; a grouped result lists only groups with units. Raises ConfigError for an unknown
    metric, filter or group key.
    """
    spec = metric_spec(name)
    scope = Scope(start=start, end=end, filters=dict(filters or {}), group_by=group_keys(group_by))
    if not exact:
        fast = _rolled_up(engine, spec, scope)
        if fast is not None:
            return fast
    build = _UNIT_QUERIES[spec.source]
    results: list[MetricValue] = []
    with _connect(engine) as connection:
        for fixed_labels, part in _scopes(engine, scope):
            values = build(engine, part).subquery("values")
            for row in connection.execute(_aggregate_query(spec, values)).mappings():
                volume = int(row["volume"])
                if volume == 0 and (part.group_by or fixed_labels):
                    continue
                labels = {**fixed_labels, **labels_of(part.group_by, _row_keys(row, len(part.group_by)))}
                results.append(MetricValue(labels=labels, value=_value_of(spec, row), volume=volume))
    if not scope.group_by and not results:
        results.append(MetricValue(labels={}, value=None, volume=0))
    results.sort(key=lambda item: sorted(item.labels.items()))
    return results


def unit_values(
    engine: Engine,
    name: str,
    *,
    start: datetime,
    end: datetime,
    filters: Mapping[str, str] | None = None,
    group_by: str | Sequence[str] | None = None,
) -> list[tuple[dict[str, str], list[float]]]:
    """The raw unit values behind a metric, per group: what subgroup tests compare.

    For rates the values are 0/1 outcomes; for latencies, tokens and cost the per-trace values.
    Not available for ``volume`` and ``judge_human_kappa`` (a count and a statistic of pairs).
    """
    spec = metric_spec(name)
    if spec.aggregate in ("kappa", "count"):
        raise ConfigError(f"metric {name!r} has no per-unit values to compare")
    scope = Scope(start=start, end=end, filters=dict(filters or {}), group_by=group_keys(group_by))
    build = _UNIT_QUERIES[spec.source]
    groups: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[float]]] = {}
    with _connect(engine) as connection:
        for fixed_labels, part in _scopes(engine, scope):
            for row in connection.execute(build(engine, part)).mappings():
                if row["value"] is None:
                    continue
                labels = {**fixed_labels, **labels_of(part.group_by, _row_keys(row, len(part.group_by)))}
                entry = groups.setdefault(tuple(sorted(labels.items())), (labels, []))
                entry[1].append(float(row["value"]))
    return [groups[key] for key in sorted(groups)]


def known_filters() -> tuple[str, ...]:
    """Filter keys every metric accepts."""
    from llmmon.monitor.units import FILTER_KEYS

    return FILTER_KEYS
