"""Renderers: terminal text, JUnit XML (one testcase per case), Markdown and self-contained HTML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from llmmon.checks.verdicts import Score
from llmmon.evals.gate import GateReport, evaluate_gate
from llmmon.evals.report import render_html, render_junit, render_markdown, render_terminal
from llmmon.evals.results import CaseResult, Observation, RunResults, TrialResult
from llmmon.evals.suite import GateSettings


def _case(case_id: str, output: str, passed: bool, *, must_pass: bool = False) -> CaseResult:
    score = Score("contains", float(passed), passed, reason="all present" if passed else "missing ['$20']")
    return CaseResult(
        case_id, f"h-{case_id}", (TrialResult(Observation(output), (score,)),), must_pass=must_pass
    )


@pytest.fixture
def report() -> GateReport:
    n = 40
    baseline = RunResults(
        "support-bot",
        "s",
        tuple(_case(f"c{i}", f"Price is $20.\nLine {i}", True) for i in range(n)),
        run_id="b1",
    )
    candidate_cases = [_case(f"c{i}", f"Price is $25 <b>now</b>.\nLine {i}", i >= 8) for i in range(n)]
    candidate_cases[20] = _case("c20", "ok", False, must_pass=True)
    candidate = RunResults("support-bot", "s", tuple(candidate_cases), run_id="c1", chatbot_cost_usd=0.0123)
    return evaluate_gate(candidate, baseline, settings=GateSettings())


def test_terminal_summary_names_verdict_metric_and_failing_cases(report: GateReport) -> None:
    text = render_terminal(report)
    assert text.startswith("REGRESSION support-bot  (exit 1; mode detect")
    assert "must_pass case(s) failed: c20" in text
    assert "pass" in text and "-0.225" in text
    assert "newly failing: c0, c1, c2, c3, c4, c5, c6, c7, c20" in text
    assert "c3: contains: missing ['$20']" in text
    assert "cost: chatbot $0.0123, judge $0.0000" in text


def test_junit_has_one_testcase_per_case_plus_gate_metrics(report: GateReport) -> None:
    root = ET.fromstring(render_junit(report))
    cases = root.findall("testcase")
    assert len(cases) == 41 and root.get("tests") == "41"
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == [*(f"c{i}" for i in range(8)), "c20", "decision"]  # the gate: classname llmmon.gate
    assert root.get("failures") == "10"
    c20 = next(c for c in cases if c.get("name") == "c20").find("failure")
    assert c20 is not None and c20.get("message") == "must_pass failure"
    decision = root.find("properties/property[@name='decision']")
    assert decision is not None and decision.get("value") == "regression"


def test_junit_marks_unscored_cases_skipped() -> None:
    unscored = TrialResult(
        Observation("x"), (Score("judge:x", None, None, status="unscored", error="timeout"),)
    )
    run = RunResults("s", "h", (CaseResult("a", "ha", (unscored,)),))
    root = ET.fromstring(render_junit(evaluate_gate(run, None, settings=GateSettings())))
    assert root.get("skipped") == "1" and root.find("testcase/skipped") is not None


def test_markdown_is_a_pr_comment_with_tables(report: GateReport) -> None:
    md = render_markdown(report)
    assert md.startswith("### ❌ llmmon eval gate: REGRESSION — `support-bot`")
    assert "| metric | baseline | candidate |" in md and "| pass | 1.000 | 0.775 | -0.225 |" in md
    assert "| `c0` | newly_failing | contains: missing ['$20'] |" in md


def test_html_is_self_contained_escaped_and_has_diffs(report: GateReport) -> None:
    page = render_html(report)
    assert page.startswith("<!doctype html>") and "<script" not in page
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert "&lt;b&gt;now&lt;/b&gt;" in page and "<b>now</b>" not in page
    assert page.count('<table class="diff"') == 40
    assert "diff_chg" in page


def test_no_baseline_report_says_how_to_promote() -> None:
    run = RunResults("s", "h", tuple(_case(f"c{i}", "Price is $20", True) for i in range(5)), run_id="r9")
    report = evaluate_gate(run, None, settings=GateSettings())
    assert "llmmon eval promote r9" in render_terminal(report, width=300)
    assert "llmmon eval promote r9" in render_markdown(report)
    assert "<pre>Price is $20</pre>" in render_html(report)
    assert np.isclose(report.candidate.pass_rate or 0, 1.0)
