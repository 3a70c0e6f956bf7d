"""`llmmon eval`: the pre-deploy gate (run, promote, compare, list).

Usage::

    llmmon eval run evalsuites/support_bot.yaml --label v4 --junit gate.xml
    llmmon eval promote run-20261127-101500-1a2b
    llmmon eval compare RUN_A RUN_B
    llmmon eval list

Exit codes of ``run`` and ``compare``: 0 pass, 1 regression, 2 usage/config error,
3 infrastructure error (target or judge unreachable, database down), 4 insufficient evidence.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import httpx
import typer
from rich.console import Console
from rich.table import Table

from llmmon.cli.common import DB_OPTION, console, err_console, make_settings, open_engine
from llmmon.errors import (
    ConfigError,
    EvalSuiteError,
    JudgeError,
    KnowledgeBaseError,
    LlmmonError,
    PromptError,
    StorageError,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from llmmon.config import Settings
    from llmmon.evals.gate import GateReport
    from llmmon.evals.results import RunResults
    from llmmon.evals.suite import EvalSuite

__all__ = ["RunRequest", "app", "execute_run"]

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(help="The pre-deploy regression gate: run suites, compare with the baseline, promote.")

_USAGE_ERRORS = (ConfigError, PromptError, EvalSuiteError, KnowledgeBaseError)
_INFRA_ERRORS = (StorageError, JudgeError)
# Finished trials are written at least this often, so an interrupted or killed run leaves them on disk.
_WRITE_EVERY_S = 1.0


def _gate_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Exit 2 for bad input (naming file/line/field), 3 for infrastructure; never 1 (that means regression).

    With ``--json`` the error is also printed as a JSON summary on stdout, so scripts parse one shape.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except LlmmonError as exc:
            code = 3 if isinstance(exc, _INFRA_ERRORS) else 2
            err_console.print(f"[bold red]Error:[/] {exc}", markup=True, highlight=False)
            if kwargs.get("json_output"):
                from llmmon.evals.summary import error_summary

                typer.echo(json.dumps(error_summary(code, str(exc)), ensure_ascii=False))
            raise typer.Exit(code) from exc

    return wrapper


@dataclass(frozen=True)
class RunRequest:
    """Everything ``llmmon eval run`` was asked to do."""

    suite_path: Path
    target: str | None = None
    label: str | None = None
    repeats: int | None = None
    concurrency: int | None = None
    budget_usd: float | None = None
    timeout_s: float | None = None
    rescore: bool = False
    rescore_baseline: bool = False
    promote_on_pass: bool = False
    junit: Path | None = None
    markdown: Path | None = None
    html: Path | None = None
    db: str | None = None
    progress: bool = True
    json_output: bool = False

    @property
    def out(self) -> Console:
        """Where the human-readable report goes: stderr with ``--json`` (stdout is the JSON summary)."""
        return err_console if self.json_output else console


def _judge_for(suite: EvalSuite, settings: Settings, engine: Engine, http_client: httpx.Client | None) -> Any:
    model = suite.judge.model or settings.judge_model
    base_url = suite.judge.base_url or settings.judge_base_url
    if not model or (base_url is None and settings.judge_api_key is None):
        return None  # no endpoint configured: judge assertions are skipped, the gate decides on the rest
    from llmmon.checks.judge import JudgeClient

    return JudgeClient(
        base_url, model, settings.judge_api_key, http_client=http_client, cache_engine=engine,
        max_retries=1, backoff_base_s=0.2, timeout=30.0,
    )  # fmt: skip


def _options(suite: EvalSuite, request: RunRequest) -> Any:
    from llmmon.evals.runner import RunOptions

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    if request.repeats is not None and request.repeats < 1:
        raise ConfigError("--repeats must be at least 1")
    if request.concurrency is not None and request.concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    if request.budget_usd is not None and request.budget_usd <= 0:
        raise ConfigError("--budget-usd must be positive")
    return RunOptions(
        repeats=pick(request.repeats, suite.repeats),
        concurrency=pick(request.concurrency, suite.concurrency),
        timeout_s=pick(request.timeout_s, suite.timeout_s),
        retries=suite.retries,
        budget_usd=pick(request.budget_usd, suite.budget_usd),
    )


def execute_run(
    request: RunRequest,
    *,
    judge_http_client: httpx.Client | None = None,
    target_http_client: httpx.Client | None = None,
) -> int:
    """Run the gate and return its exit code; the HTTP clients let tests record the judge and target."""
    import llmmon
    from llmmon.evals.suite import check_imports, load_suite
    from llmmon.evals.targets import build_target, parse_target_option
    from llmmon.tracing.recorder import QueueRecorder

    suite = load_suite(request.suite_path)
    # With --target the suite's own target is not called, so it need not import.
    check_imports(suite.model_copy(update={"target": None}) if request.target else suite)
    spec = parse_target_option(request.target) if request.target else suite.target
    settings = make_settings(request.db)
    options = _options(suite, request)
    target = build_target(
        spec, prompts_dir=settings.prompts_dir, http_client=target_http_client, timeout=options.timeout_s
    )
    from llmmon.evals.usage import SpanCollector

    try:
        collector = SpanCollector(QueueRecorder(settings))
        llmmon.configure(settings, recorder=collector)
        with open_engine(settings, create=True) as engine:
            _prepare_model_target(target, suite, engine)
            judge = _judge_for(suite, settings, engine, judge_http_client)
            try:
                return _run_with(request, suite, settings, engine, target, judge, collector, options)
            finally:
                if judge is not None:
                    judge.close()
    finally:
        target.close()
        llmmon.shutdown()


def _prepare_model_target(target: Any, suite: EvalSuite, engine: Engine) -> None:
    """A model target whose prompt uses ``passages`` retrieves them from the suite's KB; every prompt
    variable must be fillable for every case before the first call (exit 2 otherwise)."""
    from llmmon.evals.scoring import resolve_knowledge_base
    from llmmon.evals.targets import ModelEvalTarget, knowledge_retriever

    if not isinstance(target, ModelEvalTarget):
        return
    needs_passages = "passages" in target.prompt.variables
    if needs_passages and target.retriever is None and suite.knowledge_base is not None:
        suite_dir = suite.path.parent if suite.path is not None else None
        index = resolve_knowledge_base(suite.knowledge_base, suite_dir=suite_dir, engine=engine)
        target.retriever = knowledge_retriever(index)
    missing = target.missing_variables(suite.cases)
    if missing:
        shown = "; ".join(
            f"{name} (case{'s' if len(ids) > 1 else ''} {', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''})"
            for name, ids in missing.items()
        )
        hint = " (add `knowledge_base:` to the suite for `passages`)" if "passages" in missing else ""
        raise ConfigError(
            f"model target: prompt {target.prompt.name!r} {target.prompt.version} needs variable(s) the cases "
            f"do not give: {shown}; give them in each case's `variables`{hint}"
        )


def _run_with(
    request: RunRequest,
    suite: EvalSuite,
    settings: Settings,
    engine: Engine,
    target: Any,
    judge: Any,
    collector: Any,
    options: Any,
) -> int:
    from llmmon.evals import store
    from llmmon.evals.gate import evaluate_gate
    from llmmon.evals.runner import EvalRunner, output_key
    from llmmon.evals.scoring import build_scorers

    # Judge prompts: the project's prompts/judge/ when it has one, else the ones shipped with llmmon.
    judge_prompts = settings.prompts_dir if (settings.prompts_dir / "judge").is_dir() else None
    setup = build_scorers(suite, judge=judge, engine=engine, prompts_dir=judge_prompts)
    out = request.out
    for note in setup.notes:
        err_console.print(f"note: {note}", markup=False)
    prices = _prices(settings)
    planned = len(suite.cases) * options.repeats

    estimate = store.estimate_cost(engine, suite.name, trials=planned)
    if estimate is None:
        err_console.print("cost estimate: no earlier run of this suite; the budget is enforced as costs come in")
    else:
        err_console.print(f"cost estimate: ${estimate[0]:.4f} for {planned} trials ({estimate[1]})", markup=False)
        if options.budget_usd is not None and estimate[0] > options.budget_usd:
            raise ConfigError(
                f"the estimated cost ${estimate[0]:.4f} exceeds the budget ${options.budget_usd:g}: "
                "raise --budget-usd or run fewer repeats"
            )

    baseline_row = store.baseline_run(engine, suite.name)
    baseline: RunResults | None = None
    if baseline_row is not None:
        if request.rescore_baseline:
            baseline = _rescore_baseline(engine, suite, baseline_row, setup, collector, prices, options)
        else:
            baseline = store.load_results(engine, baseline_row.id, suite=suite)
    elif request.rescore_baseline:
        err_console.print("--rescore-baseline: this suite has no baseline yet; nothing to re-judge", markup=False)

    stored = {}
    if request.rescore:
        keys = [output_key(c, target.fingerprint, r) for c in suite.cases for r in range(options.repeats)]
        stored = store.stored_outputs(engine, keys)
        err_console.print(f"--rescore: {len(stored)} of {len(keys)} outputs reused from earlier runs")

    run_id = store.new_run_id()
    commit = store.git_commit()
    run_row = store.start_run(
        engine, suite=suite, run_id=run_id, target_label=target.label, target_fingerprint=target.fingerprint,
        label=request.label, repeats=options.repeats, planned=planned, judge_model=setup.judge_model,
        judge_prompt_hashes=setup.judge_prompt_hashes, kb_version=setup.kb_version, commit=commit,
    )  # fmt: skip
    fingerprint = store.run_fingerprint(run_row)
    pending: list[Any] = []
    last_write = time.monotonic()

    def keep(trial: Any) -> None:
        nonlocal last_write
        pending.append(trial)
        # Bounded memory, and a partial run on disk (within a second) if the process dies.
        if len(pending) >= 200 or time.monotonic() - last_write >= _WRITE_EVERY_S:
            store.add_trials(engine, run_id, pending)
            pending.clear()
            last_write = time.monotonic()

    runner = EvalRunner(
        suite, target, run_id=run_id, options=options, scorers=setup.scorers, collector=collector,
        prices=prices, stored_outputs=stored, label=request.label, fingerprint=fingerprint,
        console=err_console if request.progress else None, on_trial=keep,
    )  # fmt: skip
    try:
        outcome = runner.run()
    finally:
        store.add_trials(engine, run_id, pending)
        pending.clear()
    report = evaluate_gate(outcome.results, baseline, settings=suite.gate)
    store.finish_run(engine, run_id, outcome=outcome, report=report)
    _print_run_header(outcome, out)
    written = _write_reports(report, request)
    promoted = False
    if request.promote_on_pass:
        if report.decision == "pass" and outcome.status == "complete":
            store.promote_run(engine, run_id)
            promoted = True
            out.print(f"promoted {run_id} as the baseline of {suite.name}", markup=False)
        else:
            out.print(f"not promoted: the gate decided {report.decision}", markup=False)
    if request.json_output:
        from llmmon.evals.summary import run_summary

        summary = run_summary(
            report, outcome, suite_path=str(request.suite_path), promoted=promoted,
            rescored_baseline_id=baseline.run_id if request.rescore_baseline and baseline is not None else None,
            reports=written,
        )  # fmt: skip
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    return report.exit_code


def _rescore_baseline(
    engine: Engine, suite: EvalSuite, baseline_row: Any, setup: Any, collector: Any, prices: Any, options: Any
) -> RunResults:
    """Re-judge the baseline's stored outputs with the current judge; stored as a new run."""
    from dataclasses import replace

    from llmmon.evals import store
    from llmmon.evals.runner import EvalRunner

    run_id = store.new_run_id()
    stored = store.stored_outputs(engine, run_id=baseline_row.id)
    rescored_options = replace(options, budget_usd=None, repeats=baseline_row.repeats)
    row = store.start_run(
        engine, suite=suite, run_id=run_id, target_label=baseline_row.target_label,
        target_fingerprint=baseline_row.target_fingerprint,
        label=f"{baseline_row.label or baseline_row.id} (re-judged)",
        repeats=baseline_row.repeats, planned=len(stored), judge_model=setup.judge_model,
        judge_prompt_hashes=setup.judge_prompt_hashes, kb_version=setup.kb_version,
        commit=baseline_row.git_commit, rescored_from=baseline_row.id,
    )  # fmt: skip
    runner = EvalRunner(
        suite, None, run_id=run_id, options=rescored_options, scorers=setup.scorers, collector=collector,
        prices=prices, stored_outputs=stored, target_fingerprint=baseline_row.target_fingerprint,
        label=row.label, fingerprint=store.run_fingerprint(row),
    )  # fmt: skip
    outcome = runner.run()
    store.add_trials(engine, run_id, outcome.trials)
    store.finish_run(engine, run_id, outcome=outcome, report=None)
    err_console.print(
        f"--rescore-baseline: re-judged {len(outcome.trials)} stored outputs of {baseline_row.id} as {run_id}",
        markup=False,
    )
    return outcome.results


def _prices(settings: Settings) -> Any:
    try:
        from llmmon.pricing import PriceTable

        return PriceTable.load(settings.prices_file)
    except Exception as exc:  # no prices: costs stay unknown, the run goes on
        err_console.print(f"warning: price table unavailable, costs unknown: {exc}", markup=False)
        return None


def _print_run_header(outcome: Any, out: Console) -> None:
    status = outcome.status if outcome.stop_reason is None else f"{outcome.status} ({outcome.stop_reason})"
    out.print(
        f"run {outcome.run_id}: {len(outcome.trials)}/{outcome.planned} trials, {status}; "
        f"{outcome.target_calls} target calls, {outcome.reused_outputs} stored outputs reused",
        markup=False,
    )


def _write_reports(report: GateReport, request: RunRequest) -> dict[str, str]:
    """Print the terminal summary and write the requested report files; returns {kind: path}."""
    from llmmon.evals.report import print_terminal, render_html, render_junit, render_markdown

    print_terminal(report, console=request.out)
    written: dict[str, str] = {}
    for kind, path, render in (
        ("junit", request.junit, render_junit),
        ("markdown", request.markdown, render_markdown),
        ("html", request.html, render_html),
    ):
        if path is not None:
            path.write_text(render(report), encoding="utf-8")
            written[kind] = str(path)
            request.out.print(f"wrote {path}", markup=False)
    return written


_SUITE_ARGUMENT = typer.Argument(..., help="Suite file, e.g. evalsuites/support_bot.yaml.")
_JUNIT_OPTION = typer.Option(None, "--junit", help="Write a JUnit XML report.")
_MARKDOWN_OPTION = typer.Option(None, "--markdown", help="Write a Markdown report (PR comment).")
_HTML_OPTION = typer.Option(None, "--html", help="Write a self-contained HTML report.")
_COMPARE_SUITE_OPTION = typer.Option(None, "--suite", help="Suite file for gate settings and must_pass flags.")
_RUN_JSON_OPTION = typer.Option(
    False, "--json", help="Print a JSON summary (run id, decision, exit code) on stdout; the report goes to stderr."
)
_LIST_JSON_OPTION = typer.Option(False, "--json", help="Print the runs as a JSON list (for scripts).")


@app.command("run")
@_gate_errors
def run_command(
    suite: Path = _SUITE_ARGUMENT,
    target: str | None = typer.Option(None, "--target", help="pkg.mod:fn, an http(s):// URL or model:MODEL@PROMPT."),
    label: str | None = typer.Option(None, "--label", help="A name for this run (e.g. the version: v4)."),
    repeats: int | None = typer.Option(None, "--repeats", help="Calls per case (default: the suite's)."),
    concurrency: int | None = typer.Option(None, "--concurrency", help="Calls in flight at once."),
    budget_usd: float | None = typer.Option(None, "--budget-usd", help="Stop (incomplete run) beyond this cost."),
    timeout_s: float | None = typer.Option(None, "--timeout-s", help="Per-call timeout in seconds."),
    rescore: bool = typer.Option(False, "--rescore", help="Re-judge stored outputs instead of calling the target."),
    rescore_baseline: bool = typer.Option(
        False, "--rescore-baseline", help="Re-judge the baseline's stored outputs with the current judge."
    ),
    promote_on_pass: bool = typer.Option(False, "--promote-on-pass", help="Promote this run if the gate passes."),
    junit: Path | None = _JUNIT_OPTION,
    markdown: Path | None = _MARKDOWN_OPTION,
    html: Path | None = _HTML_OPTION,
    db: str | None = DB_OPTION,
    json_output: bool = _RUN_JSON_OPTION,
) -> None:
    """Run SUITE against its target, compare with the baseline, exit 0/1/2/3/4."""
    request = RunRequest(
        suite_path=suite, target=target, label=label, repeats=repeats, concurrency=concurrency,
        budget_usd=budget_usd, timeout_s=timeout_s, rescore=rescore, rescore_baseline=rescore_baseline,
        promote_on_pass=promote_on_pass, junit=junit, markdown=markdown, html=html, db=db,
        json_output=json_output, progress=not json_output,
    )  # fmt: skip
    raise typer.Exit(execute_run(request))


@app.command("promote")
@_gate_errors
def promote_command(
    run_id: str = typer.Argument(..., help="The run to make the baseline."), db: str | None = DB_OPTION
) -> None:
    """Mark RUN_ID as the deployed baseline of its suite."""
    from llmmon.evals import store

    with open_engine(make_settings(db)) as engine:
        run = store.promote_run(engine, run_id)
    console.print(f"{run.id} is now the baseline of {run.suite_name}", markup=False)


@app.command("compare")
@_gate_errors
def compare_command(
    run_a: str = typer.Argument(..., help="Baseline run id."),
    run_b: str = typer.Argument(..., help="Candidate run id."),
    suite: Path | None = _COMPARE_SUITE_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Compare two stored runs with the gate (RUN_A as baseline, RUN_B as candidate)."""
    from llmmon.evals import store
    from llmmon.evals.gate import evaluate_gate
    from llmmon.evals.report import print_terminal
    from llmmon.evals.suite import GateSettings, load_suite

    loaded = load_suite(suite) if suite is not None else None
    with open_engine(make_settings(db)) as engine:
        baseline = store.load_results(engine, run_a, suite=loaded)
        candidate = store.load_results(engine, run_b, suite=loaded)
    report = evaluate_gate(candidate, baseline, settings=loaded.gate if loaded else GateSettings())
    print_terminal(report, console=console)
    raise typer.Exit(report.exit_code)


@app.command("list")
@_gate_errors
def list_command(
    suite_name: str | None = typer.Option(None, "--suite", help="Only runs of this suite name."),
    limit: int = typer.Option(20, "--limit", help="How many runs, newest first."),
    db: str | None = DB_OPTION,
    json_output: bool = _LIST_JSON_OPTION,
) -> None:
    """List eval runs, newest first; the baseline of each suite is marked."""
    from llmmon.evals import store

    with open_engine(make_settings(db)) as engine:
        runs = store.list_runs(engine, suite_name=suite_name, limit=limit)
    if json_output:
        from llmmon.evals.summary import run_row

        typer.echo(json.dumps([run_row(run) for run in runs], ensure_ascii=False, indent=2))
        return
    table = Table("run", "suite", "label", "status", "decision", "passed", "failed", "unscored", "cost", "baseline")
    for run in runs:
        table.add_row(
            run.id, run.suite_name, run.label or "", run.status, run.decision or "", str(run.passed),
            str(run.failed), str(run.unscored), f"${run.chatbot_cost_usd + run.judge_cost_usd:.4f}",
            "yes" if run.is_baseline else "",
        )  # fmt: skip
    console.print(table)
