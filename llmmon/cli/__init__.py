"""The `llmmon` command line. One module per command group; each is registered here in one line.

To add a group from another area, add one line below, e.g.::

    from llmmon.cli import kb; app.add_typer(kb.app, name="kb")

Commands catch ``LlmmonError`` at their boundary (``llmmon.cli.common.handle_errors``): a
clear one-line message and exit code 2 for bad input, 1 for other failures.
"""

from __future__ import annotations

import typer

from llmmon.cli import db, demo, factcheck, kb, keys, prompts, purge, reprice, serve, stats, traces

__all__ = ["app", "main"]

app = typer.Typer(
    name="llmmon",
    help="llmmon: LLM quality and hallucination monitor (tracing, fact checks, eval gate, monitoring).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(traces.app, name="traces")
app.add_typer(prompts.app, name="prompts")
app.add_typer(db.app, name="db")
app.add_typer(kb.app, name="kb")
app.command("stats")(stats.stats_command)
app.command("reprice")(reprice.reprice_command)
app.command("purge")(purge.purge_command)
app.command("demo")(demo.demo_command)
app.command("factcheck")(factcheck.factcheck_command)
app.command("check")(factcheck.check_command)
from llmmon.cli import eval as eval_cli; app.add_typer(eval_cli.app, name="eval")  # noqa: E402, E702, I001
app.add_typer(keys.app, name="keys")
app.command("serve")(serve.serve_command)
from llmmon.cli import monitor as monitor_cli; app.command("monitor")(monitor_cli.monitor_command)  # noqa: E402, E702, I001
from llmmon.cli import alerts as alerts_cli; app.add_typer(alerts_cli.app, name="alerts")  # noqa: E402, E702, I001
from llmmon.cli import canary as canary_cli; app.add_typer(canary_cli.app, name="canary")  # noqa: E402, E702, I001
from llmmon.cli import report as report_cli; app.command("report")(report_cli.report_command)  # noqa: E402, E702, I001
from llmmon.cli import drift as drift_cli, metrics as metrics_cli; app.command("metrics")(metrics_cli.metrics_command); app.command("subgroups")(metrics_cli.subgroups_command); app.command("drift")(drift_cli.drift_command)  # noqa: E402, E501, E702, I001
from llmmon.cli import worker as worker_cli; app.command("worker")(worker_cli.worker_command)  # noqa: E402, E702, I001


def main() -> None:
    """Entry point of the `llmmon` script and `python -m llmmon`."""
    app()
