"""`llmmon stats`: latency percentiles, error rate, tokens and cost by model, prompt version or day."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from llmmon.cli.common import (
    DB_OPTION,
    JSON_OPTION,
    console,
    format_cost,
    format_ms,
    handle_errors,
    make_settings,
    open_engine,
    parse_since,
    print_json,
)
from llmmon.storage import repo

__all__ = ["GroupChoice", "print_stats_table", "stats_command"]


class GroupChoice(StrEnum):
    """What `llmmon stats --by` groups on."""

    model = "model"
    prompt_version = "prompt_version"
    day = "day"


_UNIT = {"model": "LLM calls", "prompt_version": "traces", "day": "traces"}


def print_stats_table(rows: list[repo.StatsRow], *, group_by: str) -> None:
    """Render stats rows as a rich table (shared with `llmmon demo`)."""
    table = Table(title=f"Stats by {group_by} ({_UNIT[group_by]})", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column(group_by, no_wrap=True)
    for column in ("n", "err %", "p50", "p90", "p99", "tokens in/out", "cost"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            escape(row.key or "(none)"),
            str(row.count),
            f"{row.error_rate:.1%}",
            format_ms(row.p50_ms),
            format_ms(row.p90_ms),
            format_ms(row.p99_ms),
            f"{row.input_tokens}/{row.output_tokens}",
            format_cost(row.cost_usd),
        )
    console.print(table)


@handle_errors
def stats_command(
    by: Annotated[
        GroupChoice, typer.Option("--by", help="Group by model, prompt_version or day.")
    ] = GroupChoice.model,
    since: str | None = typer.Option(None, help="Only spans started after this: 24h, 7d or 2026-11-01."),
    name: str | None = typer.Option(None, help="Only spans (for --by model) or root spans with this name."),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Latency p50/p90/p99, error rate, tokens and cost, computed in the database."""
    settings = make_settings(db)
    with open_engine(settings) as engine:
        rows = repo.span_stats(engine, group_by=by.value, since=parse_since(since), name=name)
    if as_json:
        print_json(rows)
        return
    print_stats_table(rows, group_by=by.value)
