"""`llmmon metrics` and `llmmon subgroups`: the metric registry over a window, grouped or per subgroup."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from llmmon.cli.common import DB_OPTION, JSON_OPTION, console, handle_errors, make_settings, open_engine, print_json
from llmmon.errors import ConfigError

__all__ = ["metrics_command", "parse_filters", "subgroups_command"]

_DEFAULT_METRICS = (
    "volume",
    "latency_p50",
    "latency_p99",
    "error_rate",
    "tokens_per_answer",
    "cost_per_answer",
    "cost_total",
    "hallucination_rate",
    "thumbs_down_rate",
    "regeneration_rate",
)


def parse_filters(items: list[str] | None) -> dict[str, str]:
    """``["model=gpt-4o", "metadata.tier=pro"]`` -> a filter dict; ConfigError for items without '='."""
    filters: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"filter {item!r} must look like KEY=VALUE (e.g. model=gpt-4o)")
        filters[key.strip()] = value.strip()
    return filters


def _window_end(engine: object, end: str | None) -> datetime:
    from llmmon.monitor.windows import database_now, to_utc

    if end is None:
        return database_now(engine)  # type: ignore[arg-type]
    try:
        return to_utc(datetime.fromisoformat(end))
    except ValueError:
        raise ConfigError(f"invalid --end {end!r}: use an ISO date/time like 2026-11-01T12:00") from None


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit == "ms":
        return f"{value:.0f} ms" if value < 10_000 else f"{value / 1000:.2f} s"
    if unit == "usd":
        return f"${value:.4f}"
    return f"{value:.3g}"


@handle_errors
def metrics_command(
    window: str = typer.Option("1d", "--window", help="Length of the window ending now: 1h, 1d, 7d."),
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by", help="Group by model, prompt_version, prompt_name, tag, user_id, day, hour or metadata:KEY."
        ),
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help="Metrics to show (default: a standard set).")
    ] = None,
    filter_: Annotated[
        list[str] | None, typer.Option("--filter", "-f", help="KEY=VALUE, e.g. model=gpt-4o, metadata.tier=pro.")
    ] = None,
    end: str | None = typer.Option(None, "--end", help="End of the window (ISO time; default: the database's now)."),
    exact: bool = typer.Option(
        False, "--exact", help="Read the spans, not the hourly roll-ups (exact percentiles, unrounded windows)."
    ),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Quality, latency and cost metrics over a window, computed in the database.

    Values marked ``~`` come from the hourly roll-ups: a histogram percentile (within ~9 %) or a
    window rounded to whole hours; ``--exact`` reads the spans instead.
    """
    from llmmon.monitor.metrics import METRICS, compute_metric, metric_spec
    from llmmon.monitor.windows import window_ending

    names = metric or list(_DEFAULT_METRICS)
    by = by or []
    for name in names:
        metric_spec(name)
    filters = parse_filters(filter_)
    settings = make_settings(db)
    with open_engine(settings) as engine:
        span = window_ending(window, end=_window_end(engine, end))
        results = {
            name: compute_metric(
                engine, name, start=span.start, end=span.end, filters=filters, group_by=by or None, exact=exact
            )
            for name in names
        }
    if as_json:
        print_json(
            {
                "start": span.start.isoformat(),
                "end": span.end.isoformat(),
                "metrics": {name: [dataclasses.asdict(v) for v in values] for name, values in results.items()},
            }
        )
        return
    groups: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for name, values in results.items():
        for value in values:
            row = groups.setdefault(tuple(sorted(value.labels.items())), {})
            mark = "~" if value.approximate else ""
            row[name] = f"{mark}{_format(value.value, METRICS[name].unit)} (n={value.volume})"
    table = Table(title=f"Metrics {span.start:%Y-%m-%d %H:%M} .. {span.end:%Y-%m-%d %H:%M} UTC", box=box.SIMPLE_HEAD)
    table.add_column("group", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right")
    for key in sorted(groups):
        label = ", ".join(f"{k}={v}" for k, v in key) or "all"
        table.add_row(escape(label), *(groups[key].get(name, "-") for name in names))
    console.print(table)


@handle_errors
def subgroups_command(
    metric: str = typer.Option(..., "--metric", "-m", help="A rate or latency metric, e.g. error_rate."),
    by: str = typer.Option(..., "--by", help="The key to break down by, e.g. metadata:tier."),
    window: str = typer.Option("7d", "--window", help="Length of the window ending now."),
    filter_: Annotated[list[str] | None, typer.Option("--filter", "-f", help="KEY=VALUE filters.")] = None,
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level after Holm correction."),
    min_volume: int = typer.Option(20, "--min-volume", help="Groups with fewer units are not tested."),
    end: str | None = typer.Option(None, "--end", help="End of the window (ISO time; default: the database's now)."),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """A metric per subgroup, flagging groups significantly worse than the rest."""
    from llmmon.monitor.metrics import metric_spec
    from llmmon.monitor.subgroups import analyse_subgroups
    from llmmon.monitor.windows import window_ending

    spec = metric_spec(metric)
    settings = make_settings(db)
    with open_engine(settings) as engine:
        span = window_ending(window, end=_window_end(engine, end))
        results = analyse_subgroups(
            engine,
            metric,
            by=by,
            start=span.start,
            end=span.end,
            filters=parse_filters(filter_),
            alpha=alpha,
            min_volume=min_volume,
        )
    if as_json:
        print_json({"metric": metric, "by": by, "groups": [dataclasses.asdict(r) for r in results]})
        return
    table = Table(title=f"{metric} by {by}", box=box.SIMPLE_HEAD)
    for column in ("group", "n", metric, "rest", "test", "p (Holm)", "worse"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for r in results:
        table.add_row(
            escape(", ".join(f"{k}={v}" for k, v in r.labels.items())),
            str(r.volume),
            _format(r.value, spec.unit),
            _format(r.rest_value, spec.unit),
            r.test,
            "-" if r.adjusted_p_value is None else f"{r.adjusted_p_value:.2g}",
            "WORSE" if r.worse else "",
        )
    console.print(table)
