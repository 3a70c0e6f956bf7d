"""`llmmon alerts list|ack`: the alerts the monitor opened, and acknowledging one."""

from __future__ import annotations

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from llmmon.cli.common import DB_OPTION, JSON_OPTION, console, handle_errors, make_settings, open_engine, print_json

__all__ = ["app"]

app = typer.Typer(help="Alerts opened by `llmmon monitor`.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_command(
    state: str | None = typer.Option("active", "--state", help="active (open + acked), open, acked, resolved, all."),
    limit: int = typer.Option(50, "--limit", min=1),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List alerts, newest first."""
    from llmmon.monitor.alerts import list_alerts

    with open_engine(make_settings(db)) as engine:
        alerts = list_alerts(engine, state=None if state == "all" else state, limit=limit)
    if as_json:
        print_json(alerts)
        return
    table = Table(title=f"Alerts ({state})", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("id", "state", "severity", "rule", "labels", "value", "opened", "delivered"):
        table.add_column(column)
    for alert in alerts:
        delivered = [n for n in alert.notifications]
        ok = sum(1 for n in delivered if n.get("ok"))
        table.add_row(
            str(alert.id),
            alert.state,
            alert.severity,
            escape(alert.rule_id),
            escape(", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items())) or "-"),
            "-" if alert.last_value is None else f"{alert.last_value:.4g}",
            f"{alert.opened_at:%Y-%m-%d %H:%M}",
            f"{ok}/{len(delivered)}",
        )
    console.print(table)


@app.command("ack")
@handle_errors
def ack_command(
    alert_id: int = typer.Argument(..., help="The alert id from `llmmon alerts list`."),
    by: str | None = typer.Option(None, "--by", help="Who acknowledges it."),
    db: str | None = DB_OPTION,
) -> None:
    """Acknowledge an alert: it stays deduplicated and still resolves (with a notification) by itself."""
    from llmmon.monitor.alerts import ack_alert

    with open_engine(make_settings(db)) as engine:
        alert = ack_alert(engine, alert_id, by=by)
    console.print(f"alert {alert.id} ({escape(alert.rule_id)}) is {alert.state}")
