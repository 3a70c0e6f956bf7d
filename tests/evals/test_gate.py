"""Gate decisions: must_pass, thresholds, coverage, infrastructure, modes, flaky cases, fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from llmmon.checks.verdicts import Score
from llmmon.evals.gate import evaluate_gate
from llmmon.evals.results import CaseResult, Observation, RunResults, TrialResult
from llmmon.evals.suite import GateSettings
from tests.evals.simulate import make_run, noisy_pair

ALL_PASS = np.ones(100, dtype=bool)


def test_identical_runs_pass_in_detect_mode() -> None:
    report = evaluate_gate(make_run(ALL_PASS), make_run(ALL_PASS), settings=GateSettings())
    assert (report.decision, report.exit_code) == ("pass", 0)
    (metric,) = report.metrics
    assert metric.metric == "pass" and metric.verdict == "ok" and metric.test is not None
    assert metric.test.test == "exact McNemar" and metric.test.p_value == 1.0
    assert report.compared_cases == 100 and report.adjustment == "holm"


def test_clear_drop_is_a_regression_naming_newly_failing_cases() -> None:
    candidate = ALL_PASS.copy()
    candidate[:15] = False
    report = evaluate_gate(make_run(candidate, run_id="cand"), make_run(ALL_PASS), settings=GateSettings())
    assert (report.decision, report.exit_code) == ("regression", 1)
    assert report.newly_failing == tuple(f"case-{i:04d}" for i in range(15))
    test = report.metrics[0].test
    assert test is not None and test.discordant_worse == 15 and test.discordant_better == 0
    assert test.difference == pytest.approx(-0.15) and test.ci_high < 0
    assert any("pass is significantly worse" in r for r in report.reasons)


def test_detect_with_margin_tolerates_small_significant_drops() -> None:
    candidate = ALL_PASS.copy()
    candidate[:6] = False  # a 6-point drop, all discordant in one direction
    strict = evaluate_gate(make_run(candidate), make_run(ALL_PASS), settings=GateSettings())
    assert strict.decision == "regression"
    tolerant = evaluate_gate(make_run(candidate), make_run(ALL_PASS), settings=GateSettings(delta=0.05))
    assert tolerant.decision == "pass" and tolerant.metrics[0].test is not None
    assert tolerant.metrics[0].test.test == "Tango score test"


def test_must_pass_failure_blocks_even_without_statistical_change() -> None:
    baseline = make_run(ALL_PASS)
    candidate_passes = ALL_PASS.copy()
    candidate_passes[7] = False
    report = evaluate_gate(make_run(candidate_passes, must_pass={7: True}), baseline, settings=GateSettings())
    assert report.metrics[0].verdict == "ok"  # one case is not a significant drop ...
    assert report.decision == "regression" and report.must_pass_failures == (
        "case-0007",
    )  # ... but it must pass


def test_must_pass_fails_when_any_repeat_fails() -> None:
    grid = np.ones((10, 3), dtype=bool)
    grid[2, 1] = False
    report = evaluate_gate(make_run(grid, must_pass={2: True}), None, settings=GateSettings())
    assert report.must_pass_failures == ("case-0002",) and report.exit_code == 1


def test_no_baseline_decides_on_must_pass_and_thresholds_only() -> None:
    passes = ALL_PASS.copy()
    passes[:30] = False  # 70% pass rate, no baseline to compare with
    report = evaluate_gate(make_run(passes, run_id="r1"), None, settings=GateSettings())
    assert report.decision == "pass" and report.metrics == () and report.baseline is None
    assert any("llmmon eval promote r1" in note for note in report.notes)
    assert report.minimum_detectable_drop is not None and 0 < report.minimum_detectable_drop < 1
    floor = evaluate_gate(make_run(passes), None, settings=GateSettings(thresholds={"pass": 0.8}))
    assert floor.decision == "regression" and floor.thresholds[0].value == pytest.approx(0.7)
    assert "pass below its threshold: 0.700 < 0.8" in floor.reasons[0]


def test_judge_down_is_never_a_pass() -> None:
    unscored = np.zeros(100, dtype=bool)
    unscored[50:] = True  # the judge died half way
    candidate = make_run(ALL_PASS, unscored=unscored)
    insufficient = evaluate_gate(candidate, make_run(ALL_PASS), settings=GateSettings())
    assert (insufficient.decision, insufficient.exit_code) == ("insufficient_evidence", 4)
    assert insufficient.candidate.coverage == 0.5
    infra = make_run(
        ALL_PASS, unscored=unscored, infrastructure_errors=("judge unreachable: connection refused",)
    )
    down = evaluate_gate(infra, make_run(ALL_PASS), settings=GateSettings())
    assert (down.decision, down.exit_code) == ("infrastructure_error", 3)
    assert any("judge unreachable" in r for r in down.reasons)
    assert sum(1 for c in down.cases if c.change == "unscored") == 50


def test_coverage_floor_is_configurable() -> None:
    unscored = np.zeros(100, dtype=bool)
    unscored[:10] = True
    candidate = make_run(ALL_PASS, unscored=unscored)
    assert evaluate_gate(candidate, make_run(ALL_PASS), settings=GateSettings()).exit_code == 4
    assert (
        evaluate_gate(candidate, make_run(ALL_PASS), settings=GateSettings(coverage_floor=0.85)).exit_code
        == 0
    )


def test_target_errors_fail_their_cases() -> None:
    trial_error = TrialResult(observation=None, error="TimeoutError: target took longer than 60s")
    ok = TrialResult(Observation("fine"), (Score("contains", 1.0, True),))
    run = RunResults("s", "h", (CaseResult("a", "ha", (trial_error,)), CaseResult("b", "hb", (ok,))))
    report = evaluate_gate(run, None, settings=GateSettings(coverage_floor=1.0))
    assert report.candidate.pass_rate == 0.5 and report.candidate.coverage == 1.0
    assert report.cases[0].failures == ("error: TimeoutError: target took longer than 60s",)


def test_incomplete_run_cannot_pass() -> None:
    report = evaluate_gate(make_run(ALL_PASS, incomplete=True), make_run(ALL_PASS), settings=GateSettings())
    assert report.decision == "insufficient_evidence" and "incomplete" in report.reasons[-1]


def test_only_cases_with_the_same_hash_are_compared_and_fingerprint_changes_listed() -> None:
    baseline = make_run(ALL_PASS, fingerprint={"judge_model": "gpt-4o", "kb_version": "1"})
    candidate_passes = ALL_PASS.copy()
    candidate_passes[:20] = False  # these 20 cases were rewritten: not comparable
    candidate = make_run(
        candidate_passes,
        hashes={i: f"edited-{i}" for i in range(20)},
        fingerprint={"judge_model": "gpt-4o-mini", "kb_version": "1"},
    )
    report = evaluate_gate(candidate, baseline, settings=GateSettings())
    assert report.compared_cases == 80 and len(report.changed_cases) == 20
    assert report.decision == "pass"
    (difference,) = report.fingerprint_differences
    assert (difference.key, difference.baseline, difference.candidate) == (
        "judge_model",
        "gpt-4o",
        "gpt-4o-mini",
    )
    assert any("--rescore-baseline" in n for n in report.notes)


def test_nothing_comparable_is_insufficient_evidence() -> None:
    candidate = make_run(ALL_PASS, hashes={i: f"new-{i}" for i in range(100)})
    report = evaluate_gate(candidate, make_run(ALL_PASS), settings=GateSettings())
    assert report.decision == "insufficient_evidence" and report.metrics[0].verdict == "no_data"


def test_non_inferiority_passes_only_when_the_bound_clears_the_margin() -> None:
    rng = np.random.default_rng(3)
    base, cand = noisy_pair(rng, n=400, noise=0.02)
    big = evaluate_gate(
        make_run(cand[:, 0]), make_run(base[:, 0]), settings=GateSettings(mode="non_inferiority")
    )
    assert big.decision == "pass" and big.metrics[0].verdict == "non_inferior"
    assert big.adjustment.startswith("none")
    small = evaluate_gate(
        make_run(cand[:20, 0]), make_run(base[:20, 0]), settings=GateSettings(mode="non_inferiority")
    )
    assert small.decision == "insufficient_evidence" and small.metrics[0].verdict == "not_shown"
    base, cand = noisy_pair(rng, n=400, noise=0.02, drop=0.15)
    dropped = evaluate_gate(
        make_run(cand[:, 0]), make_run(base[:, 0]), settings=GateSettings(mode="non_inferiority")
    )
    assert dropped.decision == "regression"


def test_repeats_use_pass_rates_and_report_flaky_cases() -> None:
    grid = np.ones((60, 4), dtype=bool)
    grid[5] = [True, False, True, True]
    report = evaluate_gate(make_run(grid), make_run(np.ones((60, 4), dtype=bool)), settings=GateSettings())
    (flaky,) = report.flaky
    assert (flaky.case_id, flaky.run, flaky.flip_rate) == ("case-0005", "candidate", 0.5)
    assert (
        report.metrics[0].test is not None and report.metrics[0].test.test == "paired permutation (sign-flip)"
    )
    assert report.cases[5].candidate_pass_rate == 0.75 and report.decision == "pass"
    quarantined = evaluate_gate(
        make_run(grid), make_run(np.ones((60, 4), dtype=bool)), settings=GateSettings(quarantine_flaky=True)
    )
    assert quarantined.compared_cases == 59 and quarantined.flaky[0].quarantined
    assert quarantined.cases[5].quarantined and not quarantined.cases[5].compared


def test_score_metrics_and_holm_across_metrics() -> None:
    rng = np.random.default_rng(0)
    base_scores = rng.uniform(0.6, 1.0, 150)
    cand_scores = np.clip(base_scores - 0.1, 0, 1)  # every answer scores 0.1 lower; verdicts unchanged
    settings = GateSettings(metrics=["pass", "judge:quality"], bootstrap_samples=2000)
    report = evaluate_gate(
        make_run(np.ones(150, bool), scores=cand_scores), make_run(np.ones(150, bool), scores=base_scores),
        settings=settings,
    )  # fmt: skip
    by_name = {m.metric: m for m in report.metrics}
    assert by_name["pass"].verdict == "ok"
    score = by_name["judge:quality"]
    assert score.test is not None and score.test.test == "paired permutation (sign-flip)"
    assert score.test.difference == pytest.approx(-0.1, abs=0.01) and score.verdict == "regression"
    assert score.p_adjusted is not None and score.p_adjusted >= score.test.p_value  # Holm never lowers p
    assert report.decision == "regression"
    wilcoxon = evaluate_gate(
        make_run(np.ones(150, bool), scores=cand_scores), make_run(np.ones(150, bool), scores=base_scores),
        settings=GateSettings(metrics=["judge:quality"], score_test="wilcoxon"),
    )  # fmt: skip
    assert wilcoxon.metrics[0].test is not None and wilcoxon.metrics[0].test.test == "Wilcoxon signed-rank"
    assert wilcoxon.decision == "regression"


def test_newly_passing_cases_are_listed() -> None:
    base = ALL_PASS.copy()
    base[:3] = False
    report = evaluate_gate(make_run(ALL_PASS), make_run(base), settings=GateSettings())
    assert report.newly_passing == ("case-0000", "case-0001", "case-0002") and report.decision == "pass"
