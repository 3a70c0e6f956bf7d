"""The pre-deploy eval gate: suites, assertions, paired statistics, the gate decision and its reports.

Usage::

    from llmmon.evals import evaluate_gate, load_suite

    suite = load_suite("evalsuites/support_bot.yaml")
    report = evaluate_gate(candidate_results, baseline_results, settings=suite.gate)
    raise SystemExit(report.exit_code)
"""

from __future__ import annotations

from llmmon.evals.assertions import AssertionContext, Scorer, evaluate_assertion, evaluate_assertions
from llmmon.evals.gate import EXIT_CODES, GateReport, evaluate_gate
from llmmon.evals.results import PASS_METRIC, CaseResult, Observation, RunResults, TrialResult
from llmmon.evals.suite import EvalCase, EvalSuite, GateSettings, check_imports, load_suite

__all__ = [
    "EXIT_CODES",
    "PASS_METRIC",
    "AssertionContext",
    "CaseResult",
    "EvalCase",
    "EvalSuite",
    "GateReport",
    "GateSettings",
    "Observation",
    "RunResults",
    "Scorer",
    "TrialResult",
    "check_imports",
    "evaluate_assertion",
    "evaluate_assertions",
    "evaluate_gate",
    "load_suite",
]
