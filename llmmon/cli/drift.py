"""`llmmon drift`: compare the current window with a reference window (or the same hours of past weeks)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from llmmon.cli.common import DB_OPTION, JSON_OPTION, console, handle_errors, make_settings, open_engine, print_json
from llmmon.cli.metrics import _window_end, parse_filters

__all__ = ["drift_command"]


@handle_errors
def drift_command(
    reference: str = typer.Option("7d", "--reference", help="Length of the reference window before the current one."),
    current: str = typer.Option("1d", "--current", help="Length of the current window, ending now."),
    seasonal: bool = typer.Option(False, "--seasonal", help="Reference = same weekday and hours of previous weeks."),
    weeks: int = typer.Option(4, "--weeks", help="Previous weeks in a --seasonal reference."),
    feature: Annotated[list[str] | None, typer.Option("--feature", help="Features to compare (default: all).")] = None,
    filter_: Annotated[list[str] | None, typer.Option("--filter", "-f", help="KEY=VALUE filters.")] = None,
    psi_threshold: float = typer.Option(0.2, "--psi", help="PSI at or above which a feature drifted."),
    end: str | None = typer.Option(None, "--end", help="End of the current window (ISO; default: database now)."),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """PSI, Kolmogorov-Smirnov and chi-square per feature; exit code 3 when a feature drifted."""
    from llmmon.monitor.drift import compute_drift
    from llmmon.monitor.windows import Window, parse_duration, window_ending

    settings = make_settings(db)
    with open_engine(settings) as engine:
        now = window_ending(current, end=_window_end(engine, end))
        reference_window = None if seasonal else Window(now.start - parse_duration(reference), now.start)
        report = compute_drift(
            engine,
            current=now,
            reference=reference_window,
            seasonal_weeks=weeks if seasonal else None,
            features=feature or None,
            filters=parse_filters(filter_),
            psi_threshold=psi_threshold,
        )
    if as_json:
        print_json(report.to_dict())
    else:
        table = Table(title=f"Drift {now.start:%Y-%m-%d %H:%M} .. {now.end:%Y-%m-%d %H:%M} UTC", box=box.SIMPLE_HEAD)
        for column in ("feature", "ref n", "cur n", "PSI", "KS p", "chi2 p", "drifted", "top bins"):
            table.add_column(column)
        for item in report.features:
            bins = "; ".join(f"{b.label}: {b.reference_share:.0%} -> {b.current_share:.0%}" for b in item.top_bins[:2])
            table.add_row(
                item.feature,
                str(item.reference_n),
                str(item.current_n),
                "-" if item.psi is None else f"{item.psi:.3f}",
                "-" if item.ks_pvalue is None else f"{item.ks_pvalue:.2g}",
                "-" if item.chi2_pvalue is None else f"{item.chi2_pvalue:.2g}",
                "DRIFT" if item.drifted else "",
                bins or item.note,
            )
        console.print(table)
    if report.drifted:
        raise typer.Exit(3)
