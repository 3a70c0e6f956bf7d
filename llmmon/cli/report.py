"""`llmmon report`: the live model card of every prompt version, as Markdown or HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from llmmon.cli.common import DB_OPTION, console, handle_errors, make_settings, open_engine, parse_since

__all__ = ["ReportFormat", "report_command"]


class ReportFormat(StrEnum):
    md = "md"
    html = "html"


@handle_errors
def report_command(
    since: str = typer.Option("7d", "--since", help="Period of the card: 7d, 24h or an ISO date."),
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="md or html (with inline SVG charts).")
    ] = ReportFormat.md,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
    db: str | None = DB_OPTION,
) -> None:
    """Per prompt version: volume, drift, p99 latency, errors, hallucination rate and trend,
    thumbs-down rate, cost, open alerts, last eval gate."""
    from llmmon.monitor.report import build_model_card, render_html, render_markdown

    end = datetime.now(UTC)
    start = parse_since(since, now=end)
    assert start is not None
    with open_engine(make_settings(db)) as engine:
        card = build_model_card(engine, start=start, end=end)
    text = render_html(card) if fmt is ReportFormat.html else render_markdown(card)
    if output is None:
        typer.echo(text)
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"model card ({len(card.versions)} prompt versions) written to {output}")
