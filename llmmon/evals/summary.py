"""Machine-readable summaries for CI scripts: ``llmmon eval run --json`` and ``llmmon eval list --json``.

The shapes are a contract for scripts (documented in docs/ci.md); add keys, never rename them.
Usage::

    print(json.dumps(run_summary(report, outcome, promoted=False, reports={"junit": "gate.xml"})))
    print(json.dumps([run_row(run) for run in store.list_runs(engine)]))
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmmon.evals.gate import GateReport, MetricComparison
    from llmmon.evals.runner import RunOutcome
    from llmmon.storage.models.evals import EvalRun

__all__ = ["SUMMARY_VERSION", "error_summary", "run_row", "run_summary"]

#: Bumped only if a key changes meaning; new keys do not bump it.
SUMMARY_VERSION = 1


def _metric(m: MetricComparison) -> dict[str, Any]:
    test = dataclasses.asdict(m.test) if m.test is not None else None
    return {"metric": m.metric, "verdict": m.verdict, "p_adjusted": m.p_adjusted, "note": m.note, "test": test}


def run_summary(
    report: GateReport,
    outcome: RunOutcome,
    *,
    suite_path: str | None,
    promoted: bool,
    rescored_baseline_id: str | None = None,
    reports: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What a CI script needs after ``llmmon eval run``: the run id, the verdict and why."""
    verdicts = [t.result.verdict for t in outcome.trials]
    baseline = report.baseline
    return {
        "summary_version": SUMMARY_VERSION,
        "run_id": outcome.run_id,
        "suite": report.suite_name,
        "suite_path": suite_path,
        "label": report.candidate.label,
        "decision": report.decision,
        "exit_code": report.exit_code,
        "reasons": list(report.reasons),
        "status": outcome.status,
        "stop_reason": outcome.stop_reason,
        "trials": {
            "planned": outcome.planned,
            "run": len(outcome.trials),
            "passed": verdicts.count("passed"),
            "failed": verdicts.count("failed"),
            "unscored": verdicts.count("unscored"),
            "target_calls": outcome.target_calls,
            "reused_outputs": outcome.reused_outputs,
        },
        "pass_rate": report.candidate.pass_rate,
        "coverage": report.candidate.coverage,
        "cost_usd": {"chatbot": report.candidate.chatbot_cost_usd, "judge": report.candidate.judge_cost_usd},
        "baseline_run_id": baseline.run_id if baseline is not None else None,
        "rescored_baseline_id": rescored_baseline_id,
        "compared_cases": report.compared_cases,
        "metrics": [_metric(m) for m in report.metrics],
        "thresholds": [dataclasses.asdict(t) for t in report.thresholds],
        "must_pass_failures": list(report.must_pass_failures),
        "newly_failing": list(report.newly_failing),
        "newly_passing": list(report.newly_passing),
        "flaky": [dataclasses.asdict(f) for f in report.flaky],
        "fingerprint_differences": [dataclasses.asdict(d) for d in report.fingerprint_differences],
        "infrastructure_errors": list(outcome.results.infrastructure_errors),
        "minimum_detectable_drop": report.minimum_detectable_drop,
        "promoted": promoted,
        "reports": dict(reports or {}),
    }


def error_summary(exit_code: int, message: str) -> dict[str, Any]:
    """The ``--json`` output when the run could not happen (exit 2 usage/config, 3 infrastructure)."""
    decision = {2: "config_error", 3: "infrastructure_error"}.get(exit_code, "error")
    return {
        "summary_version": SUMMARY_VERSION,
        "run_id": None,
        "decision": decision,
        "exit_code": exit_code,
        "error": message,
    }


def run_row(run: EvalRun) -> dict[str, Any]:
    """One stored run for ``llmmon eval list --json``."""
    return {
        "run_id": run.id,
        "suite": run.suite_name,
        "label": run.label,
        "status": run.status,
        "stop_reason": run.stop_reason,
        "decision": run.decision,
        "exit_code": run.exit_code,
        "is_baseline": run.is_baseline,
        "promoted_at": run.promoted_at.isoformat() if run.promoted_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "trials_planned": run.trials_planned,
        "trials_run": run.trials_run,
        "passed": run.passed,
        "failed": run.failed,
        "unscored": run.unscored,
        "cost_usd": {"chatbot": run.chatbot_cost_usd, "judge": run.judge_cost_usd},
        "target": run.target_label,
        "git_commit": run.git_commit,
        "judge_model": run.judge_model,
        "rescored_from": run.rescored_from,
        "infrastructure_errors": json.loads(run.infrastructure_errors) if run.infrastructure_errors else [],
    }
