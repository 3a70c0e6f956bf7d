"""`llmmon worker`: the evaluation worker (tier-1 fact checks on every trace, the judge on a sample).

    llmmon worker --kb support                 # run until Ctrl-C
    llmmon worker --kb support --once          # process what is due now, then exit
    llmmon worker --kb support --judge-share 0.05 --judge-daily-budget-usd 2

The judge runs when ``LLMMON_JUDGE_MODEL`` (and ``LLMMON_JUDGE_BASE_URL``) are set; without it the
worker still fact-checks every trace and records which ones it would have judged.
"""

from __future__ import annotations

import signal
import threading
from contextlib import ExitStack, suppress
from types import FrameType
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from sqlalchemy import Engine

from llmmon.cli.common import DB_OPTION, console, err_console, handle_errors, make_settings, open_engine
from llmmon.config import Settings
from llmmon.errors import ConfigError, KnowledgeBaseError

if TYPE_CHECKING:
    from llmmon.checks.scorers import Scorer

__all__ = ["worker_command"]


def _scorers(settings: Settings, stack: ExitStack, engine: Engine) -> list[Scorer]:
    if not settings.judge_model:
        return []
    from llmmon.checks.judge import JudgeClient
    from llmmon.checks.scorers import FaithfulnessScorer, RelevanceScorer

    judge = JudgeClient.from_settings(settings, cache_engine=engine)
    stack.callback(judge.close)
    return [FaithfulnessScorer(judge), RelevanceScorer(judge)]


def _kb_name(kb: str | None, settings: Settings, engine: Engine) -> str:
    from llmmon.knowledge.store import list_knowledge_bases

    name = kb or settings.worker_kb
    if name:
        return name
    stored = list_knowledge_bases(engine)
    if len(stored) == 1:
        return stored[0].name
    raise ConfigError(
        "the worker needs a knowledge base: pass --kb NAME or set LLMMON_WORKER_KB "
        f"(stored: {', '.join(k.name for k in stored) or 'none'})"
    )


@handle_errors
def worker_command(
    kb: str | None = typer.Option(None, "--kb", help="Stored knowledge base to fact-check against."),
    once: bool = typer.Option(False, "--once", help="Process every trace that is due now, then exit."),
    batch: int | None = typer.Option(None, "--batch", min=1, help="Traces claimed per batch."),
    judge_share: float | None = typer.Option(
        None, "--judge-share", min=0.0, max=1.0, help="Share of unremarkable traces the judge also scores."
    ),
    judge_daily_budget_usd: float | None = typer.Option(
        None, "--judge-daily-budget-usd", min=0.0, help="Judge spend per UTC day; over it, traces go unjudged."
    ),
    new_version_hours: float | None = typer.Option(
        None, "--new-version-hours", min=0.0, help="Judge every trace of a prompt version/model this new."
    ),
    lease_s: float | None = typer.Option(None, "--lease-seconds", min=0.1, help="Lease on a claimed batch."),
    poll_interval_s: float = typer.Option(1.0, "--poll-interval", min=0.01, help="Seconds between polls when idle."),
    clock_offset_s: float = typer.Option(0.0, "--clock-offset-seconds", hidden=True),
    db: str | None = DB_OPTION,
) -> None:
    """Fact-check every new trace (tier 1) and judge a tail sample; crash-safe, several may run at once."""
    from llmmon.knowledge.store import kb_version
    from llmmon.monitor.worker import Worker, WorkerConfig
    from llmmon.tracing.runtime import configure, shutdown

    settings = make_settings(db)
    with ExitStack() as stack:
        engine = stack.enter_context(open_engine(settings))
        name = _kb_name(kb, settings, engine)
        try:
            kb_version(engine, name)
        except KnowledgeBaseError as exc:
            raise ConfigError(f"--kb {name!r}: {exc}") from exc
        scorers = _scorers(settings, stack, engine)
        if scorers:
            configure(settings)  # the judge's own spans (is_eval, with cost) feed the daily budget
            stack.callback(shutdown)
        try:
            config = WorkerConfig(
                kb_name=name,
                batch_size=batch or settings.worker_batch_size,
                judge_share=settings.worker_judge_share if judge_share is None else judge_share,
                judge_daily_budget_usd=judge_daily_budget_usd or settings.worker_judge_daily_budget_usd,
                new_version_hours=settings.worker_new_version_hours if new_version_hours is None else new_version_hours,
                lease_s=lease_s or settings.worker_lease_s,
                poll_interval_s=poll_interval_s,
                clock_offset_s=clock_offset_s,
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        worker = Worker(engine, config, scorers=scorers)
        judge = "with the judge" if scorers else "without a judge (LLMMON_JUDGE_MODEL is not set)"
        err_console.print(f"worker {escape(worker.owner)} on knowledge base {escape(name)!r}, {judge}")
        try:
            if once:
                report = worker.run_until_idle()
            else:
                stop = threading.Event()

                def _stop(_signum: int, _frame: FrameType | None) -> None:
                    stop.set()

                signal.signal(signal.SIGTERM, _stop)
                with suppress(KeyboardInterrupt):
                    worker.run(stop)
                report = worker.totals
        except KnowledgeBaseError as exc:
            raise ConfigError(f"--kb {name!r}: {exc}") from exc
    console.print(
        f"{report.claimed} claimed: {report.checked} fact-checked, {report.judged} judged, "
        f"{report.judge_failed} judge failures (retried later), {report.over_budget} over the judge budget, "
        f"{report.lost} taken over by another worker, {report.failed} failed"
    )
