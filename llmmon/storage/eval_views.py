"""Read views of stored eval runs for the dashboard and the read API: run lists and per-case diffs.

The eval-run tables belong to the evals area; they are looked up in the shared metadata, and a
database without them reads as "no runs". The per-case change uses the gate's rule (majority
verdict over scored repeats), so the dashboard and ``llmmon eval compare`` agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine, Table, case, func, select
from sqlmodel import SQLModel

from llmmon.errors import StorageError
from llmmon.storage.repo import _connect

__all__ = ["CaseDiff", "EvalRunPublic", "RunComparison", "compare_runs", "eval_tables", "list_eval_runs"]

Change = Literal["newly_failing", "newly_passing", "still_failing", "still_passing", "unscored", "new", "removed"]


class EvalRunPublic(BaseModel):
    """One eval run's headline numbers."""

    id: str
    suite_name: str
    label: str | None
    target_label: str
    status: str
    is_baseline: bool
    started_at: datetime
    finished_at: datetime | None
    passed: int
    failed: int
    unscored: int
    pass_rate: float | None
    decision: str | None
    chatbot_cost_usd: float
    judge_cost_usd: float
    judge_model: str | None
    kb_version: str | None
    git_commit: str | None


class CaseDiff(BaseModel):
    """One case in a baseline-vs-candidate comparison."""

    case_id: str
    change: Change
    baseline_pass_rate: float | None
    candidate_pass_rate: float | None
    baseline_output: str | None
    candidate_output: str | None
    candidate_error: str | None
    case_changed: bool


class RunComparison(BaseModel):
    """Two runs side by side, with every case's change; changed cases first."""

    baseline: EvalRunPublic
    candidate: EvalRunPublic
    cases: list[CaseDiff]
    newly_failing: int
    newly_passing: int


def eval_tables() -> tuple[Table, Table] | None:
    """The (eval_run, eval_result) tables when the evals area's models are installed, else None."""
    try:
        import llmmon.storage.models.evals  # noqa: F401  (registers the tables in the metadata)
    except ImportError:
        return None
    tables = SQLModel.metadata.tables
    if "eval_run" not in tables or "eval_result" not in tables:
        return None
    return tables["eval_run"], tables["eval_result"]


def _run_public(row: Any) -> EvalRunPublic:
    decided = row["passed"] + row["failed"]
    return EvalRunPublic.model_validate(dict(row) | {"pass_rate": row["passed"] / decided if decided else None})


def list_eval_runs(engine: Engine, *, suite_name: str | None = None, limit: int = 100) -> list[EvalRunPublic]:
    """Eval runs newest first (optionally of one suite); empty when the eval tables do not exist."""
    tables = eval_tables()
    if tables is None:
        return []
    run, _ = tables
    query = select(run).order_by(run.c.started_at.desc(), run.c.id).limit(limit)
    if suite_name is not None:
        query = query.where(run.c.suite_name == suite_name)
    with _connect(engine) as connection:
        return [_run_public(row) for row in connection.execute(query).mappings()]


def _get_run(connection: Any, run: Table, run_id: str) -> EvalRunPublic:
    row = connection.execute(select(run).where(run.c.id == run_id)).mappings().one_or_none()
    if row is None:
        raise StorageError(f"no eval run with id {run_id!r}")
    return _run_public(row)


def _per_case(connection: Any, result: Table, run_id: str) -> dict[str, dict[str, Any]]:
    """Per case: pass rate over scored repeats, first output and error, case hash."""
    scored = func.sum(case((result.c.verdict != "unscored", 1), else_=0))
    passed = func.sum(case((result.c.verdict == "passed", 1), else_=0))
    query = (
        select(
            result.c.case_id,
            scored.label("scored"),
            passed.label("passed"),
            func.max(result.c.case_hash).label("case_hash"),
            func.min(case((result.c.repeat_index == 0, result.c.output))).label("output"),
            func.max(result.c.error).label("error"),
        )
        .where(result.c.run_id == run_id)
        .group_by(result.c.case_id)
    )
    return {row["case_id"]: dict(row) for row in connection.execute(query).mappings()}


def _rate(case_row: dict[str, Any] | None) -> float | None:
    if case_row is None or not case_row["scored"]:
        return None
    return float(case_row["passed"]) / float(case_row["scored"])


def _change(base: dict[str, Any] | None, cand: dict[str, Any] | None) -> Change:
    if base is None:
        return "new"
    if cand is None:
        return "removed"
    was, now = _rate(base), _rate(cand)
    if was is None or now is None:
        return "unscored"
    if was >= 0.5 and now < 0.5:
        return "newly_failing"
    if now >= 0.5 and was < 0.5:
        return "newly_passing"
    return "still_passing" if now >= 0.5 else "still_failing"


_ORDER = {"newly_failing": 0, "newly_passing": 1, "unscored": 2, "new": 3, "removed": 4, "still_failing": 5}


def compare_runs(engine: Engine, *, baseline_id: str, candidate_id: str) -> RunComparison:
    """Per-case diff of two runs (any two runs of one suite); raises StorageError for an unknown run."""
    tables = eval_tables()
    if tables is None:
        raise StorageError("this database has no eval runs (the eval tables are not installed)")
    run, result = tables
    with _connect(engine) as connection:
        baseline = _get_run(connection, run, baseline_id)
        candidate = _get_run(connection, run, candidate_id)
        base_cases = _per_case(connection, result, baseline_id)
        cand_cases = _per_case(connection, result, candidate_id)
    diffs: list[CaseDiff] = []
    for case_id in sorted(set(base_cases) | set(cand_cases)):
        base, cand = base_cases.get(case_id), cand_cases.get(case_id)
        diffs.append(
            CaseDiff(
                case_id=case_id,
                change=_change(base, cand),
                baseline_pass_rate=_rate(base),
                candidate_pass_rate=_rate(cand),
                baseline_output=base["output"] if base else None,
                candidate_output=cand["output"] if cand else None,
                candidate_error=cand["error"] if cand else None,
                case_changed=bool(base and cand and base["case_hash"] != cand["case_hash"]),
            )
        )
    diffs.sort(key=lambda d: (_ORDER.get(d.change, 9), d.case_id))
    return RunComparison(
        baseline=baseline,
        candidate=candidate,
        cases=diffs,
        newly_failing=sum(d.change == "newly_failing" for d in diffs),
        newly_passing=sum(d.change == "newly_passing" for d in diffs),
    )


def baseline_for(engine: Engine, *, suite_name: str) -> EvalRunPublic | None:
    """The promoted baseline run of a suite, if any."""
    tables = eval_tables()
    if tables is None:
        return None
    run, _ = tables
    query = select(run).where(run.c.suite_name == suite_name, run.c.is_baseline.is_(True)).limit(1)
    with _connect(engine) as connection:
        row = connection.execute(query).mappings().one_or_none()
    return _run_public(row) if row is not None else None
