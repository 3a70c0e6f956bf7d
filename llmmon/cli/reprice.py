"""`llmmon reprice`: re-cost stored spans from their raw usage after a price-table fix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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

__all__ = ["reprice_command"]


@handle_errors
def reprice_command(
    since: str | None = typer.Option(None, help="Only spans started after this: 30d or 2026-11-01."),
    model: str | None = typer.Option(None, help="Only spans of this model."),
    prices_file: Annotated[
        Path | None,
        typer.Option(
            "--prices-file",
            help="A price table YAML on top of the shipped one (default: LLMMON_PRICES_FILE).",
        ),
    ] = None,
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Recompute cost_usd of stored spans with the current price table."""
    from llmmon.pricing import PriceTable, reprice_spans

    settings = make_settings(db, prices_file=prices_file)
    table = PriceTable.load(settings.prices_file)
    with open_engine(settings) as engine:
        result = reprice_spans(engine, table, since=parse_since(since), model=model)
    if as_json:
        print_json(
            {"scanned": result.scanned, "updated": result.updated, "unknown_models": result.unknown_models}
        )
        return
    console.print(f"Re-priced {result.scanned} spans; {result.updated} changed cost.")
    if result.unknown_models:
        console.print(f"No price for: {', '.join(result.unknown_models)} (their cost is null).")
