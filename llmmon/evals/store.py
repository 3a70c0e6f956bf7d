"""Eval runs in the database: create, append results, finish, promote, list, and load back for the gate.

Usage::

    run = start_run(engine, suite=suite, run_id=new_run_id(), target_label=..., ...)
    add_trials(engine, run.id, outcome.trials)
    finish_run(engine, run.id, outcome=outcome, report=report)
    promote_run(engine, run.id)                       # the suite's deployed baseline
    baseline = load_results(engine, baseline_run(engine, suite.name).id)
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import subprocess
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from llmmon.checks.verdicts import Score
from llmmon.errors import ConfigError, StorageError
from llmmon.evals.results import CaseResult, Observation, RunResults, TrialResult
from llmmon.evals.runner import StoredOutput, Trial
from llmmon.storage.models.evals import EvalResult, EvalRun

if TYPE_CHECKING:
    from llmmon.evals.gate import GateReport
    from llmmon.evals.runner import RunOutcome
    from llmmon.evals.suite import EvalSuite

__all__ = [
    "add_trials",
    "baseline_run",
    "estimate_cost",
    "finish_run",
    "get_run",
    "git_commit",
    "list_runs",
    "load_results",
    "new_run_id",
    "promote_run",
    "start_run",
    "stored_outputs",
]


def new_run_id(now: datetime | None = None) -> str:
    """``run-YYYYMMDD-HHMMSS-xxxx``: sortable by time, unique enough for a team's history."""
    moment = now or datetime.now(UTC)
    return f"run-{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def git_commit(cwd: Path | None = None) -> str | None:
    """The checked-out commit, when run inside a git work tree (CI sets it too: GITHUB_SHA)."""
    import os

    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"][:40]
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()[:40] or None if result.returncode == 0 else None


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _write(engine: Engine, what: str, action: Any) -> Any:
    try:
        with Session(engine) as session:
            result = action(session)
            session.commit()
            return result
    except SQLAlchemyError as exc:
        raise StorageError(f"could not {what}: {exc}") from exc


def start_run(
    engine: Engine,
    *,
    suite: EvalSuite,
    run_id: str,
    target_label: str,
    target_fingerprint: str,
    label: str | None,
    repeats: int,
    planned: int,
    judge_model: str | None,
    judge_prompt_hashes: dict[str, str],
    kb_version: str | None,
    commit: str | None,
    rescored_from: str | None = None,
) -> EvalRun:
    """Store a new run with status ``running`` before any case is called."""
    from llmmon import __version__

    run = EvalRun(
        id=run_id,
        suite_name=suite.name,
        suite_hash=suite.suite_hash,
        suite_path=str(suite.path) if suite.path is not None else None,
        case_hashes=_json({case.id: case.case_hash for case in suite.cases}),
        target_label=target_label[:512],
        target_fingerprint=target_fingerprint,
        label=label,
        git_commit=commit,
        judge_model=judge_model,
        judge_prompt_hashes=_json(judge_prompt_hashes),
        kb_version=kb_version,
        llmmon_version=__version__,
        repeats=repeats,
        started_at=datetime.now(UTC),
        status="running",
        trials_planned=planned,
        rescored_from=rescored_from,
    )

    def add(session: Session) -> EvalRun:
        session.add(run)
        session.flush()
        session.refresh(run)
        session.expunge(run)
        return run

    result: EvalRun = _write(engine, "store the eval run", add)
    return result


def _score_dict(score: Score) -> dict[str, Any]:
    return dataclasses.asdict(score)


def add_trials(engine: Engine, run_id: str, trials: Iterable[Trial]) -> int:
    """Store finished trials (one ``EvalResult`` each); returns how many were written."""
    now = datetime.now(UTC)
    rows: list[EvalResult] = []
    for trial in trials:
        result = trial.result
        observation = result.observation
        rows.append(
            EvalResult(
                run_id=run_id,
                case_id=trial.case.id,
                case_hash=trial.case.case_hash,
                repeat_index=trial.repeat,
                output_key=trial.output_key,
                output=observation.output if observation is not None else None,
                scores=_json([_score_dict(s) for s in result.scores]),
                verdict=result.verdict,
                latency_ms=observation.latency_ms if observation else None,
                input_tokens=observation.input_tokens if observation else None,
                output_tokens=observation.output_tokens if observation else None,
                total_tokens=observation.total_tokens if observation else None,
                cost_usd=observation.cost_usd if observation else None,
                judge_cost_usd=result.judge_cost_usd,
                error=result.error,
                infrastructure_error=result.infrastructure_error,
                trace_id=trial.trace_id,
                created_at=now,
            )
        )
    if rows:
        _write(engine, "store eval results", lambda session: session.add_all(rows))
    return len(rows)


def finish_run(engine: Engine, run_id: str, *, outcome: RunOutcome, report: GateReport | None) -> None:
    """Record how the run ended, its totals, costs and (when the gate ran) its decision."""
    verdicts = [t.result.verdict for t in outcome.trials]
    values: dict[str, Any] = {
        "finished_at": datetime.now(UTC),
        "status": outcome.status,
        "stop_reason": outcome.stop_reason,
        "trials_run": len(outcome.trials),
        "passed": verdicts.count("passed"),
        "failed": verdicts.count("failed"),
        "unscored": verdicts.count("unscored"),
        "chatbot_cost_usd": outcome.results.chatbot_cost_usd,
        "judge_cost_usd": outcome.results.judge_cost_usd,
        "infrastructure_errors": _json(list(outcome.results.infrastructure_errors))
        if outcome.results.infrastructure_errors
        else None,
    }
    if report is not None:
        values.update(decision=report.decision, exit_code=report.exit_code)
    _write(
        engine,
        "finish the eval run",
        lambda session: session.execute(update(EvalRun).where(col(EvalRun.id) == run_id).values(**values)),
    )


def get_run(engine: Engine, run_id: str) -> EvalRun:
    """The run ``run_id``; ``ConfigError`` (a usage error) when there is no such run."""
    with Session(engine) as session:
        run = session.get(EvalRun, run_id)
        if run is None:
            raise ConfigError(f"no eval run {run_id!r} (see `llmmon eval list`)")
        session.expunge(run)
        return run


def list_runs(engine: Engine, *, suite_name: str | None = None, limit: int = 20) -> list[EvalRun]:
    """Newest runs first."""
    with Session(engine) as session:
        statement = select(EvalRun).order_by(col(EvalRun.started_at).desc()).limit(limit)
        if suite_name is not None:
            statement = statement.where(col(EvalRun.suite_name) == suite_name)
        runs = list(session.exec(statement))
        for run in runs:
            session.expunge(run)
        return runs


def baseline_run(engine: Engine, suite_name: str) -> EvalRun | None:
    """The promoted baseline of ``suite_name``, if any."""
    with Session(engine) as session:
        statement = select(EvalRun).where(col(EvalRun.suite_name) == suite_name, col(EvalRun.is_baseline).is_(True))
        run = session.exec(statement).first()
        if run is not None:
            session.expunge(run)
        return run


def promote_run(engine: Engine, run_id: str) -> EvalRun:
    """Make ``run_id`` the suite's baseline (the previous baseline is demoted). Incomplete runs refuse."""
    run = get_run(engine, run_id)
    if run.status != "complete":
        raise ConfigError(f"run {run_id} is {run.status}: only a complete run can be the baseline")
    now = datetime.now(UTC)

    def promote(session: Session) -> None:
        session.execute(
            update(EvalRun)
            .where(col(EvalRun.suite_name) == run.suite_name, col(EvalRun.is_baseline).is_(True))
            .values(is_baseline=False)
        )
        session.execute(update(EvalRun).where(col(EvalRun.id) == run_id).values(is_baseline=True, promoted_at=now))

    _write(engine, "promote the eval run", promote)
    return get_run(engine, run_id)


def _score_from(data: dict[str, Any]) -> Score:
    return Score(
        name=str(data.get("name", "")),
        value=data.get("value"),
        passed=data.get("passed"),
        status=data.get("status", "scored"),
        reason=str(data.get("reason", "")),
        error=data.get("error"),
        details=dict(data.get("details") or {}),
    )


def _results_of(engine: Engine, run_id: str) -> list[EvalResult]:
    with Session(engine) as session:
        statement = select(EvalResult).where(col(EvalResult.run_id) == run_id).order_by(col(EvalResult.id))
        rows = list(session.exec(statement))
        for row in rows:
            session.expunge(row)
        return rows


def load_results(engine: Engine, run_id: str, *, suite: EvalSuite | None = None) -> RunResults:
    """A stored run in the gate's shape; ``must_pass``/tags come from ``suite`` when given."""
    run = get_run(engine, run_id)
    flags = {c.id: (c.must_pass, tuple(c.tags)) for c in suite.cases} if suite is not None else {}
    by_case: dict[str, list[EvalResult]] = {}
    for row in _results_of(engine, run_id):
        by_case.setdefault(row.case_id, []).append(row)
    cases: list[CaseResult] = []
    for case_id, rows in by_case.items():
        trials = []
        for row in sorted(rows, key=lambda r: r.repeat_index):
            observation = (
                Observation(
                    output=row.output,
                    latency_ms=row.latency_ms,
                    cost_usd=row.cost_usd,
                    input_tokens=row.input_tokens,
                    output_tokens=row.output_tokens,
                    total_tokens=row.total_tokens,
                )
                if row.output is not None
                else None
            )
            trials.append(
                TrialResult(
                    observation,
                    tuple(_score_from(s) for s in json.loads(row.scores)),
                    error=row.error,
                    infrastructure_error=row.infrastructure_error,
                    judge_cost_usd=row.judge_cost_usd,
                )
            )
        must_pass, tags = flags.get(case_id, (False, ()))
        cases.append(CaseResult(case_id, rows[0].case_hash, tuple(trials), must_pass=must_pass, tags=tags))
    return RunResults(
        suite_name=run.suite_name,
        suite_hash=run.suite_hash,
        cases=tuple(cases),
        run_id=run.id,
        label=run.label,
        fingerprint=run_fingerprint(run),
        chatbot_cost_usd=run.chatbot_cost_usd,
        judge_cost_usd=run.judge_cost_usd,
        incomplete=run.status != "complete",
        infrastructure_errors=tuple(json.loads(run.infrastructure_errors or "[]")),
    )


def run_fingerprint(run: EvalRun) -> dict[str, str | None]:
    """The fingerprint components a gate report compares (the git commit is expected to differ)."""
    from llmmon.evals.suite import canonical_hash

    prompts = json.loads(run.judge_prompt_hashes or "{}")
    return {
        "suite_hash": run.suite_hash,
        "target": run.target_label,
        "judge_model": run.judge_model,
        "judge_prompts": canonical_hash(prompts) if prompts else None,
        "kb_version": run.kb_version,
        "llmmon_version": run.llmmon_version,
    }


def stored_outputs(
    engine: Engine, keys: Sequence[str] | None = None, *, run_id: str | None = None
) -> dict[str, StoredOutput]:
    """Target outputs kept from earlier runs, by output key (newest wins); failed calls are not outputs."""
    with Session(engine) as session:
        statement = select(EvalResult).where(col(EvalResult.output).is_not(None), col(EvalResult.error).is_(None))
        if run_id is not None:
            statement = statement.where(col(EvalResult.run_id) == run_id)
        if keys is not None:
            statement = statement.where(col(EvalResult.output_key).in_(list(keys)))
        rows = list(session.exec(statement.order_by(col(EvalResult.id))))
    found: dict[str, StoredOutput] = {}
    for row in rows:
        assert row.output is not None
        found[row.output_key] = StoredOutput(
            output=row.output, latency_ms=row.latency_ms, input_tokens=row.input_tokens,
            output_tokens=row.output_tokens, total_tokens=row.total_tokens, cost_usd=row.cost_usd,
            trace_id=row.trace_id,
        )  # fmt: skip
    return found


def estimate_cost(engine: Engine, suite_name: str, *, trials: int) -> tuple[float, str] | None:
    """(estimated USD, basis) from the cost per trial of the suite's last finished runs; None without history."""
    with Session(engine) as session:
        statement = (
            select(EvalRun)
            .where(col(EvalRun.suite_name) == suite_name, col(EvalRun.trials_run) > 0)
            .where(col(EvalRun.finished_at).is_not(None))
            .order_by(col(EvalRun.started_at).desc())
            .limit(5)
        )
        runs = list(session.exec(statement))
    if not runs:
        return None
    spent = sum(r.chatbot_cost_usd + r.judge_cost_usd for r in runs)
    done = sum(r.trials_run for r in runs)
    per_trial = spent / done
    return per_trial * trials, f"${per_trial:.5f} per trial over the last {len(runs)} run(s)"
