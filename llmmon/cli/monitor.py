"""`llmmon monitor`: evaluate the alert rules once (``--once``) or every interval (``--every 1m``)."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from llmmon.cli.common import DB_OPTION, JSON_OPTION, console, handle_errors, make_settings, open_engine, print_json
from llmmon.errors import ConfigError, StorageError

__all__ = ["monitor_command"]

logger = logging.getLogger("llmmon")


def _summary(result: object) -> dict[str, object]:
    from llmmon.monitor.alerts import MonitorResult

    assert isinstance(result, MonitorResult)
    return {
        "now": result.now.isoformat(),
        "rules_evaluated": len({e.rule_id for e in result.evaluations}),
        "breached": [
            {"rule": e.rule_id, "labels": e.labels, "value": e.value} for e in result.evaluations if e.breached
        ],
        "opened": result.opened,
        "reopened": result.reopened,
        "resolved": result.resolved,
        "deliveries": [d.as_dict() for d in result.deliveries],
    }


@handle_errors
def monitor_command(
    rules: Annotated[Path | None, typer.Option("--rules", help="Rules YAML file (default: the shipped rules).")] = None,
    every: str | None = typer.Option(None, "--every", help="Evaluate repeatedly at this interval, e.g. 1m."),
    once: bool = typer.Option(False, "--once", help="Evaluate once and exit (the default without --every)."),
    webhook: str | None = typer.Option(
        None, "--webhook", envvar="LLMMON_ALERT_WEBHOOK_URL", help="Webhook for rules without `notify`."
    ),
    now: str | None = typer.Option(None, "--now", help="Evaluate as of this ISO time (replays); default: DB clock."),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Evaluate alert rules: open, deduplicate and resolve alerts, notify webhooks."""
    from llmmon.monitor.alerts import AlertMonitor, RegistryMetrics
    from llmmon.monitor.rules import load_rules
    from llmmon.monitor.windows import parse_duration, to_utc

    if once and every:
        raise ConfigError("give either --once or --every, not both")
    interval = parse_duration(every).total_seconds() if every else None
    at = to_utc(datetime.fromisoformat(now)) if now else None
    ruleset = load_rules(rules, known_metrics=RegistryMetrics().known_metrics())
    settings = make_settings(db)
    with open_engine(settings) as engine:
        monitor = AlertMonitor(engine, ruleset, default_webhook=webhook)
        while True:
            try:
                result = monitor.evaluate(now=at)
            except StorageError as exc:
                if interval is None:
                    raise
                logger.warning("monitor: evaluation failed, retrying next interval: %s", exc)
            else:
                summary = _summary(result)
                if as_json:
                    print_json(summary)
                else:
                    failed = sum(not d.ok for d in result.deliveries)
                    console.print(
                        f"{summary['now']}: {summary['rules_evaluated']} rules with traffic in their window, "
                        f"{len(result.opened)} opened, {len(result.resolved)} resolved, "
                        f"{sum(1 for e in result.evaluations if e.breached)} breached"
                        + (f", {failed} webhook deliveries failed" if failed else "")
                    )
            if interval is None:
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return
