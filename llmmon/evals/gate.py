"""The pre-deploy gate: compare a candidate run with the deployed baseline and decide, honestly.

Usage::

    report = evaluate_gate(candidate, baseline, settings=suite.gate)
    print(report.decision, report.exit_code)

Order of decisions (first match wins):

1. a ``must_pass`` case failed in any repeat              -> regression (exit 1)
2. a metric is below its absolute threshold                 -> regression (exit 1)
3. scored share below the coverage floor                   -> infrastructure error (3) when
                                                              the runner reported one, else
                                                              insufficient evidence (4)
4. a gating metric is significantly worse (detect, Holm)    -> regression (exit 1)
   or non-inferiority not shown with the drop estimate >= δ -> regression (exit 1)
5. non-inferiority not shown, or nothing comparable,
   or the run is incomplete                                 -> insufficient evidence (4)
6. otherwise                                                -> pass (exit 0)

Without a baseline only 1-3 and 5 (incomplete run) apply, and the report says how to promote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from llmmon.evals.results import PASS_METRIC, CaseResult, RunResults
from llmmon.evals.stats import (
    Hypothesis,
    PairedTest,
    flip_rate,
    holm,
    minimum_detectable_drop,
    paired_binary_test,
    paired_score_test,
)
from llmmon.evals.suite import GateSettings

__all__ = [
    "EXIT_CODES",
    "CaseComparison",
    "Decision",
    "FingerprintDifference",
    "FlakyCase",
    "GateReport",
    "MetricComparison",
    "RunSummary",
    "ThresholdCheck",
    "evaluate_gate",
]

Decision = Literal["pass", "regression", "config_error", "infrastructure_error", "insufficient_evidence"]
#: Exit codes of ``llmmon eval run`` (issue 4, item 6).
EXIT_CODES: Mapping[Decision, int] = {
    "pass": 0,
    "regression": 1,
    "config_error": 2,
    "infrastructure_error": 3,
    "insufficient_evidence": 4,
}
CaseChange = Literal[
    "newly_failing", "newly_passing", "still_failing", "still_passing", "unscored", "new", "changed"
]


@dataclass(frozen=True)
class RunSummary:
    """Headline numbers of one run."""

    run_id: str | None
    label: str | None
    cases: int
    scored: int
    coverage: float
    pass_rate: float | None
    chatbot_cost_usd: float
    judge_cost_usd: float
    incomplete: bool
    fingerprint: Mapping[str, str | None]


@dataclass(frozen=True)
class MetricComparison:
    """One gating metric: the paired test and its verdict."""

    metric: str
    test: PairedTest | None
    p_adjusted: float | None
    verdict: Literal["ok", "regression", "non_inferior", "not_shown", "no_data"]
    note: str = ""


@dataclass(frozen=True)
class ThresholdCheck:
    """An absolute floor on a metric's mean in the candidate run."""

    metric: str
    threshold: float
    value: float | None
    passed: bool


@dataclass(frozen=True)
class FlakyCase:
    """A case whose verdict changed between identical repeats."""

    case_id: str
    run: Literal["baseline", "candidate"]
    verdicts: tuple[str, ...]
    flip_rate: float
    quarantined: bool


@dataclass(frozen=True)
class FingerprintDifference:
    """A fingerprint component (judge model, KB version, ...) that differs between the runs."""

    key: str
    baseline: str | None
    candidate: str | None


@dataclass(frozen=True)
class CaseComparison:
    """One case as the reports show it."""

    case_id: str
    change: CaseChange
    must_pass: bool
    tags: tuple[str, ...]
    candidate_pass_rate: float | None
    baseline_pass_rate: float | None
    candidate: CaseResult | None
    baseline: CaseResult | None
    flaky: bool = False
    quarantined: bool = False
    compared: bool = False

    @property
    def failures(self) -> tuple[str, ...]:
        """Why the candidate failed: errors and failed assertions, each with its reason."""
        reasons: list[str] = []
        for index, trial in enumerate(self.candidate.trials if self.candidate else ()):
            prefix = f"repeat {index + 1}: " if self.candidate and len(self.candidate.trials) > 1 else ""
            if trial.error:
                reasons.append(f"{prefix}error: {trial.error}")
            if trial.infrastructure_error:
                reasons.append(f"{prefix}unscored: {trial.infrastructure_error}")
            for score in trial.scores:
                if score.status == "scored" and score.passed is False:
                    reasons.append(f"{prefix}{score.name}: {score.reason or 'failed'}")
                elif score.status == "unscored":
                    reasons.append(f"{prefix}{score.name}: unscored ({score.error or score.reason})")
        return tuple(dict.fromkeys(reasons))


@dataclass(frozen=True)
class GateReport:
    """Everything the terminal, JUnit, Markdown and HTML reports need."""

    suite_name: str
    mode: str
    delta: float
    alpha: float
    coverage_floor: float
    decision: Decision
    reasons: tuple[str, ...]
    candidate: RunSummary
    baseline: RunSummary | None
    metrics: tuple[MetricComparison, ...]
    thresholds: tuple[ThresholdCheck, ...]
    cases: tuple[CaseComparison, ...]
    must_pass_failures: tuple[str, ...]
    flaky: tuple[FlakyCase, ...]
    fingerprint_differences: tuple[FingerprintDifference, ...]
    only_in_candidate: tuple[str, ...]
    only_in_baseline: tuple[str, ...]
    changed_cases: tuple[str, ...]
    compared_cases: int
    paired_coverage: float | None
    minimum_detectable_drop: float | None
    adjustment: str
    notes: tuple[str, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        """0 pass, 1 regression, 2 config error, 3 infrastructure error, 4 insufficient evidence."""
        return EXIT_CODES[self.decision]

    @property
    def newly_failing(self) -> tuple[str, ...]:
        """Cases that passed in the baseline and fail now."""
        return tuple(c.case_id for c in self.cases if c.change == "newly_failing")

    @property
    def newly_passing(self) -> tuple[str, ...]:
        """Cases that failed in the baseline and pass now."""
        return tuple(c.case_id for c in self.cases if c.change == "newly_passing")


def _is_flaky(case: CaseResult) -> tuple[bool, float]:
    decided = [v for v in case.verdicts if v != "unscored"]
    passes = sum(v == "passed" for v in decided)
    rate = flip_rate(passes, len(decided))
    return rate > 0, rate


def _summary(run: RunResults, cases: list[CaseResult]) -> RunSummary:
    rates = [r for r in (c.metric(PASS_METRIC) for c in cases) if r is not None]
    return RunSummary(
        run_id=run.run_id,
        label=run.label,
        cases=len(cases),
        scored=len(rates),
        coverage=len(rates) / len(cases) if cases else 0.0,
        pass_rate=sum(rates) / len(rates) if rates else None,
        chatbot_cost_usd=run.chatbot_cost_usd,
        judge_cost_usd=run.judge_cost_usd,
        incomplete=run.incomplete,
        fingerprint=dict(run.fingerprint),
    )


def _compare_metric(
    metric: str, pairs: list[tuple[CaseResult, CaseResult]], settings: GateSettings, delta: float
) -> PairedTest | None:
    values = [(b.metric(metric), c.metric(metric)) for b, c in pairs]
    aligned = [(b, c) for b, c in values if b is not None and c is not None]
    if not aligned:
        return None
    base = np.array([b for b, _ in aligned], dtype=np.float64)
    cand = np.array([c for _, c in aligned], dtype=np.float64)
    hypothesis: Hypothesis = "worse" if settings.mode == "detect" else "noninferior"
    binary = bool(np.all((base == 0) | (base == 1)) and np.all((cand == 0) | (cand == 1)))
    if binary:
        return paired_binary_test(base, cand, delta=delta, alpha=settings.alpha, hypothesis=hypothesis)
    return paired_score_test(
        base,
        cand,
        delta=delta,
        alpha=settings.alpha,
        hypothesis=hypothesis,
        method=settings.score_test,
        samples=settings.bootstrap_samples,
        seed=settings.seed,
    )


def _change(base: float | None, cand: float | None) -> CaseChange:
    if base is None or cand is None:
        return "unscored"
    was, now = base >= 0.5, cand >= 0.5  # with repeats: majority verdict
    if was and not now:
        return "newly_failing"
    if now and not was:
        return "newly_passing"
    return "still_passing" if now else "still_failing"


def evaluate_gate(
    candidate: RunResults, baseline: RunResults | None, *, settings: GateSettings
) -> GateReport:
    """Decide pass / regression / insufficient evidence for ``candidate`` against ``baseline``."""
    delta = settings.effective_delta
    cand_cases = {c.case_id: c for c in candidate.cases}
    base_cases = {c.case_id: c for c in baseline.cases} if baseline is not None else {}

    flaky: list[FlakyCase] = []
    flaky_ids: set[str] = set()
    for run_name, cases in (("candidate", cand_cases), ("baseline", base_cases)):
        for case in cases.values():
            is_flaky, rate = _is_flaky(case)
            if is_flaky:
                flaky_ids.add(case.case_id)
                flaky.append(
                    FlakyCase(case.case_id, run_name, case.verdicts, rate, settings.quarantine_flaky)  # type: ignore[arg-type]
                )
    quarantined = flaky_ids if settings.quarantine_flaky else set()

    shared = [i for i in cand_cases if i in base_cases and base_cases[i].case_hash == cand_cases[i].case_hash]
    changed = [
        i for i in cand_cases if i in base_cases and base_cases[i].case_hash != cand_cases[i].case_hash
    ]
    only_candidate = [i for i in cand_cases if i not in base_cases] if baseline is not None else []
    only_baseline = [i for i in base_cases if i not in cand_cases]
    pairs = [(base_cases[i], cand_cases[i]) for i in shared if i not in quarantined]

    gated_candidate = [c for i, c in cand_cases.items() if i not in quarantined]
    cand_summary = _summary(candidate, list(cand_cases.values()))
    gated_summary = _summary(candidate, gated_candidate)
    base_summary = _summary(baseline, list(base_cases.values())) if baseline is not None else None

    reasons: list[str] = []
    notes: list[str] = []

    must_pass_failures = tuple(
        c.case_id for c in cand_cases.values() if c.must_pass and any(v == "failed" for v in c.verdicts)
    )
    if must_pass_failures:
        reasons.append(f"must_pass case(s) failed: {', '.join(must_pass_failures)}")

    threshold_checks: list[ThresholdCheck] = []
    for metric, floor in sorted(settings.thresholds.items()):
        values = [v for v in (c.metric(metric) for c in gated_candidate) if v is not None]
        value = sum(values) / len(values) if values else None
        ok = value is not None and value >= floor
        threshold_checks.append(ThresholdCheck(metric, floor, value, ok))
        if not ok:
            shown_value = "no scored value" if value is None else f"{value:.3f}"
            reasons.append(f"{metric} below its threshold: {shown_value} < {floor:g}")

    paired_scored = sum(
        1 for b, c in pairs if b.metric(PASS_METRIC) is not None and c.metric(PASS_METRIC) is not None
    )
    paired_coverage = paired_scored / len(pairs) if pairs else None
    coverage_ok = gated_summary.coverage >= settings.coverage_floor and (
        paired_coverage is None or paired_coverage >= settings.coverage_floor
    )
    if not coverage_ok:
        shown = (
            gated_summary.coverage
            if paired_coverage is None
            else min(gated_summary.coverage, paired_coverage)
        )
        reasons.append(
            f"only {shown:.1%} of cases were scored (floor {settings.coverage_floor:.0%}): "
            "not enough evidence for a verdict"
        )

    metrics: list[MetricComparison] = []
    if baseline is not None:
        tests = [(m, _compare_metric(m, pairs, settings, delta)) for m in settings.metrics]
        raw = [t.p_value for _, t in tests if t is not None]
        # Detect blocks if ANY metric is worse (union): Holm keeps the false-alarm rate at alpha.
        # Non-inferiority passes only if ALL metrics are shown (intersection-union): no adjustment needed.
        adjusted = iter(holm(raw) if settings.mode == "detect" else raw)
        for metric, test in tests:
            if test is None:
                metrics.append(MetricComparison(metric, None, None, "no_data", "no case scored in both runs"))
                continue
            p_adj = next(adjusted)
            significant = p_adj < settings.alpha
            if settings.mode == "detect":
                verdict: Literal["ok", "regression", "non_inferior", "not_shown"] = (
                    "regression" if significant else "ok"
                )
            else:
                verdict = "non_inferior" if significant else "not_shown"
            metrics.append(MetricComparison(metric, test, p_adj, verdict))

    adjustment = "holm" if settings.mode == "detect" else "none (intersection-union test)"
    regressions = [m for m in metrics if m.verdict == "regression"]
    not_shown = [m for m in metrics if m.verdict == "not_shown"]
    for m in regressions:
        assert m.test is not None
        reasons.append(
            f"{m.metric} is significantly worse: {m.test.baseline_mean:.3f} -> {m.test.candidate_mean:.3f} "
            f"(p={m.p_adjusted:.3g} < alpha={settings.alpha:g}, margin {delta:g})"
        )
    clear_drop = [m for m in not_shown if m.test is not None and -m.test.difference >= delta]
    for m in not_shown:
        assert m.test is not None
        reasons.append(
            f"{m.metric}: non-inferiority not shown: drop {-m.test.difference:.3f}, "
            f"{m.test.ci_level:.0%} CI lower end {m.test.ci_low:.3f} vs margin -{delta:g}"
        )

    decision: Decision
    if must_pass_failures or any(not t.passed for t in threshold_checks):
        decision = "regression"
    elif not coverage_ok:
        infra = (*candidate.infrastructure_errors, *(baseline.infrastructure_errors if baseline else ()))
        decision = "infrastructure_error" if infra else "insufficient_evidence"
        reasons.extend(f"infrastructure: {e}" for e in infra)
    elif regressions or clear_drop:
        decision = "regression"
    elif not_shown:
        decision = "insufficient_evidence"
    elif baseline is not None and not any(m.test is not None for m in metrics):
        decision = "insufficient_evidence"
        reasons.append("no case is comparable with the baseline (changed, new or unscored)")
    elif candidate.incomplete:
        decision = "insufficient_evidence"
        reasons.append("the run is incomplete (budget or interruption); a partial run cannot pass")
    else:
        decision = "pass"

    if baseline is None:
        notes.append(
            "no baseline for this suite: absolute results only; after a deploy, promote this run with "
            f"`llmmon eval promote {candidate.run_id or 'RUN_ID'}` (or use --promote-on-pass)"
        )
    fingerprint_differences = (
        tuple(
            FingerprintDifference(key, baseline.fingerprint.get(key), candidate.fingerprint.get(key))
            for key in sorted(set(baseline.fingerprint) | set(candidate.fingerprint))
            if baseline.fingerprint.get(key) != candidate.fingerprint.get(key)
        )
        if baseline is not None
        else ()
    )
    if fingerprint_differences:
        keys = ", ".join(d.key for d in fingerprint_differences)
        notes.append(
            f"fingerprints differ ({keys}); compared only the {len(shared)} cases both runs share. "
            "If the judge changed, re-judge the baseline with --rescore-baseline."
        )

    mdd = _minimum_detectable_drop(pairs, gated_candidate, settings, delta)
    case_rows = _case_rows(
        cand_cases, base_cases, shared, changed, flaky_ids, quarantined, baseline is not None
    )
    return GateReport(
        suite_name=candidate.suite_name,
        mode=settings.mode,
        delta=delta,
        alpha=settings.alpha,
        coverage_floor=settings.coverage_floor,
        decision=decision,
        reasons=tuple(reasons),
        candidate=cand_summary,
        baseline=base_summary,
        metrics=tuple(metrics),
        thresholds=tuple(threshold_checks),
        cases=case_rows,
        must_pass_failures=must_pass_failures,
        flaky=tuple(flaky),
        fingerprint_differences=fingerprint_differences,
        only_in_candidate=tuple(only_candidate),
        only_in_baseline=tuple(only_baseline),
        changed_cases=tuple(changed),
        compared_cases=len(pairs),
        paired_coverage=paired_coverage,
        minimum_detectable_drop=mdd,
        adjustment=adjustment,
        notes=tuple(notes),
    )


def _minimum_detectable_drop(
    pairs: list[tuple[CaseResult, CaseResult]],
    candidate: list[CaseResult],
    settings: GateSettings,
    delta: float,
) -> float | None:
    """MDD of the ``pass`` metric at 80% power: from observed paired differences, else a planning value.

    Without a baseline the planning value assumes independent runs, ``sd = sqrt(2 p (1-p))``, which
    overstates the paired noise: the real MDD with a baseline is usually smaller.
    """
    alpha = settings.alpha / max(1, len(settings.metrics))  # Holm's first step: the worst case
    diffs = [
        b - c
        for b, c in ((b.metric(PASS_METRIC), c.metric(PASS_METRIC)) for b, c in pairs)
        if b is not None and c is not None
    ]
    if len(diffs) >= 2 and float(np.std(diffs)) > 0:
        return minimum_detectable_drop(
            len(diffs), sd_diff=float(np.std(diffs, ddof=1)), alpha=alpha, delta=delta
        )
    rates = [r for r in (c.metric(PASS_METRIC) for c in candidate) if r is not None]
    if not rates:
        return None
    p = min(max(sum(rates) / len(rates), 0.05), 0.95)
    return minimum_detectable_drop(
        len(rates), sd_diff=float(np.sqrt(2 * p * (1 - p))), alpha=alpha, delta=delta
    )


def _case_rows(
    cand_cases: dict[str, CaseResult],
    base_cases: dict[str, CaseResult],
    shared: list[str],
    changed: list[str],
    flaky_ids: set[str],
    quarantined: set[str],
    has_baseline: bool,
) -> tuple[CaseComparison, ...]:
    shared_set, changed_set = set(shared), set(changed)
    rows: list[CaseComparison] = []
    for case_id, case in cand_cases.items():
        base = base_cases.get(case_id)
        cand_rate = case.metric(PASS_METRIC)
        base_rate = base.metric(PASS_METRIC) if base is not None else None
        if case_id in changed_set:
            change: CaseChange = "changed"
        elif case_id in shared_set:
            change = _change(base_rate, cand_rate)
        elif has_baseline:
            change = "new"
        else:
            change = (
                "unscored"
                if cand_rate is None
                else ("still_passing" if cand_rate >= 0.5 else "still_failing")
            )
        rows.append(
            CaseComparison(
                case_id=case_id,
                change=change,
                must_pass=case.must_pass,
                tags=case.tags,
                candidate_pass_rate=cand_rate,
                baseline_pass_rate=base_rate,
                candidate=case,
                baseline=base,
                flaky=case_id in flaky_ids,
                quarantined=case_id in quarantined,
                compared=case_id in shared_set and case_id not in quarantined,
            )
        )
    return tuple(rows)
