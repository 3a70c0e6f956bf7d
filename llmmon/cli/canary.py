"""`llmmon canary report`: candidate vs baseline prompt version with a sequential verdict."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from llmmon.cli.common import (
    DB_OPTION,
    JSON_OPTION,
    console,
    handle_errors,
    make_settings,
    open_engine,
    parse_since,
    print_json,
)

__all__ = ["app"]

app = typer.Typer(help="Canary analysis of prompt versions.", no_args_is_help=True)


def _num(value: float | None, *, percent: bool) -> str:
    if value is None:
        return "-"
    return f"{value:+.2%}" if percent else f"{value:+.4g}"


def _mean(value: float | None, *, percent: bool) -> str:
    if value is None:
        return "-"
    return f"{value:.2%}" if percent else f"{value:.4g}"


@app.command("report")
@handle_errors
def report_command(
    prompt: str = typer.Option(..., "--prompt", help="Prompt name, e.g. support-answer."),
    baseline: str = typer.Option(..., "--baseline", help="Baseline version, e.g. v3."),
    candidate: str = typer.Option(..., "--candidate", help="Candidate version, e.g. v4."),
    since: str = typer.Option("7d", "--since", help="Start of the comparison: 7d, 24h or an ISO date."),
    alpha: float = typer.Option(0.05, "--alpha", help="Error rate of the always-valid intervals."),
    rollback: str | None = typer.Option(
        None, "--rollback", help="Called when the verdict is roll back: pkg.module:function or a webhook URL."
    ),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Compare hallucination rate, thumbs-down rate, judge score, latency and cost; verdict:
    promote | keep waiting (n needed) | roll back. Valid however often you run it."""
    from llmmon.monitor.canary import canary_report

    end = datetime.now(UTC)
    start = parse_since(since, now=end)
    assert start is not None
    with open_engine(make_settings(db)) as engine:
        report = canary_report(
            engine, prompt=prompt, baseline=baseline, candidate=candidate, start=start, end=end, alpha=alpha,
            rollback=rollback,
        )  # fmt: skip
    if as_json:
        print_json(report)
        return
    table = Table(
        title=f"Canary {escape(prompt)}: {escape(candidate)} vs {escape(baseline)}", title_justify="left",
        box=box.SIMPLE_HEAD,
    )  # fmt: skip
    for column in ("metric", "n base/cand", "baseline", "candidate", "difference", f"{1 - alpha:.0%} interval", "call"):
        table.add_column(column)
    for row in report.comparisons:
        percent = row.metric.endswith("_rate")
        interval = (
            "-"
            if row.low is None or row.high is None
            else (f"[{_num(row.low, percent=percent)}, {_num(row.high, percent=percent)}]")
        )
        table.add_row(
            escape(row.label), f"{row.baseline_n}/{row.candidate_n}", _mean(row.baseline_mean, percent=percent),
            _mean(row.candidate_mean, percent=percent), _num(row.difference, percent=percent), interval, row.status,
        )  # fmt: skip
    console.print(table)
    verdict: str = report.verdict
    if verdict == "keep waiting" and report.candidate_n_needed:
        verdict += f" ({report.candidate_n_needed} candidate answers needed)"
    console.print(f"[bold]Verdict: {escape(verdict)}[/] — {escape(report.reason)}")
    console.print(f"Method: {escape(report.method)}")
    if report.rollback_result:
        console.print(f"Rollback hook {escape(report.rollback_hook or '')}: {escape(report.rollback_result)}")
