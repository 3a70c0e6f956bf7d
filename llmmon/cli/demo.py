"""`llmmon demo`: run the sample support chatbot over a few hundred questions, then show the stats.

The bot (``examples/support_bot``) is traced end to end and writes to the configured database
(``./llmmon.db`` unless ``--db`` or ``LLMMON_DATABASE_URL``). Its LLM is a real OpenAI-compatible
endpoint with ``--llm-base-url``/``--llm-model``; otherwise a deterministic simulated responder
behind the real OpenAI client, labelled as such in the output. The command exits by itself.
"""

from __future__ import annotations

import time

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from llmmon.cli.common import DB_OPTION, console, database_location, handle_errors, make_settings, open_engine
from llmmon.errors import ConfigError

__all__ = ["demo_command"]


@handle_errors
def demo_command(
    questions: int = typer.Option(
        240, "--questions", "-n", min=1, max=100_000, help="How many questions to ask."
    ),
    llm_base_url: str | None = typer.Option(
        None, "--llm-base-url", help="A real OpenAI-compatible endpoint (default: the simulated responder)."
    ),
    llm_model: str | None = typer.Option(
        None, "--llm-model", help="Model name to request (default gpt-4o-mini)."
    ),
    llm_api_key: str | None = typer.Option(
        None, "--llm-api-key", envvar="LLMMON_DEMO_LLM_API_KEY", help="API key of the real endpoint."
    ),
    seed: int = typer.Option(42, help="Seed of the question order, users and sessions."),
    fault: str | None = typer.Option(
        None,
        "--fault",
        envvar="LLMMON_DEMO_FAULT",
        help="Inject a fault into the simulated responder: prices.",
    ),
    db: str | None = DB_OPTION,
    serve: bool = typer.Option(
        False, "--serve", help="Afterwards, keep the dashboard up on http://127.0.0.1:<port> (no auth, local only)."
    ),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port of the dashboard with --serve."),
) -> None:
    """Run the sample support chatbot over a workload and print what llmmon recorded."""
    import llmmon
    from examples.support_bot import bot as support_bot
    from examples.support_bot.responder import SIMULATED_LABEL
    from examples.support_bot.workload import run_workload, workload
    from llmmon.cli.stats import print_stats_table
    from llmmon.storage import repo

    if fault not in (None, "", "prices"):
        raise ConfigError(f"unknown fault {fault!r}; the only fault is 'prices'")
    if llm_model and not llm_base_url:
        raise ConfigError("--llm-model needs --llm-base-url (the simulated responder ignores model names)")
    settings = make_settings(db, enabled=True, sample_rate=1.0)
    with open_engine(settings, create=True):
        pass  # creates the database file and schema before the recorder writes to it
    where = database_location(settings)
    llmmon.configure(settings)
    bot, http_client = support_bot.build_bot(
        base_url=llm_base_url, model=llm_model, api_key=llm_api_key, fault=fault or None
    )
    label = f"{bot.model} at {llm_base_url}" if llm_base_url else f"{bot.model} via {SIMULATED_LABEL}"
    console.print(
        f"[bold]llmmon demo[/]: support bot for the fictional Lumen Electronics store, {questions} questions"
    )
    console.print(f"LLM: {label}")
    if fault:
        console.print(
            f"[yellow]Fault injected:[/] {fault} (the responder quotes wrong prices in some answers)"
        )
    support_bot.use_bot(bot)
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("asking"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("questions", total=questions)
            result = run_workload(
                workload(questions, seed=seed),
                on_progress=lambda done, _total: progress.update(task, completed=done),
            )
    finally:
        support_bot.use_bot(None)
        if http_client is not None:
            http_client.close()
        flushed = llmmon.flush(timeout=30.0)
        llmmon.shutdown()
    elapsed = time.perf_counter() - started
    errors = ", ".join(f"{count} {name}" for name, count in result.errors.most_common()) or "none"
    console.print(
        f"Asked {result.asked} questions in {elapsed:.1f} s: {result.answered} answered "
        f"({result.streamed} streamed), errors: {errors}."
    )
    for question, text in result.samples[:3]:
        console.print(f"  [dim]Q:[/] {question}\n  [dim]A:[/] {text}")
    with open_engine(settings) as engine:
        for group_by in ("prompt_version", "model"):
            print_stats_table(repo.span_stats(engine, group_by=group_by), group_by=group_by)
        latest = repo.list_traces(engine, limit=1).data
    console.print(f"Database: {where}")
    if latest:
        console.print(
            f"Next: [bold]llmmon traces list[/], [bold]llmmon traces show {latest[0].trace_id[:12]}[/], "
            "[bold]llmmon stats --by day[/]" + ("" if db is None else f" (add --db {db})")
        )
    if flushed.pending or flushed.dropped:
        console.print(f"[red]Warning:[/] {flushed.pending} spans still pending, {flushed.dropped} dropped.")
        raise typer.Exit(1)
    if serve:
        from llmmon.cli.serve import LOCALHOST, run_server

        run_server(settings.model_copy(update={"server_no_auth": True}), host=LOCALHOST, port=port)
