"""Benchmark: the gate's own cost on 1,000 cases (statistics, flaky detection, all four reports).

Run: ``.venv/bin/python benchmarks/bench_gate.py``. Prints milliseconds per case against the
runner's whole overhead budget of 5 ms per case, and the ratio against a baseline measured in the
same run (one plain Python pass computing every case's pass rate, the least any gate must do).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmmon.evals.gate import evaluate_gate
from llmmon.evals.report import render_html, render_junit, render_markdown, render_terminal
from llmmon.evals.results import PASS_METRIC, RunResults
from llmmon.evals.suite import GateSettings
from tests.evals.simulate import make_run, noisy_pair

BUDGET_MS_PER_CASE = 5.0


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def baseline_pass(run: RunResults) -> list[float | None]:
    return [case.metric(PASS_METRIC) for case in run.cases]


def main() -> None:
    n = 1000
    for repeats, settings in (
        (1, GateSettings()),
        (3, GateSettings()),
        (3, GateSettings(mode="non_inferiority")),
    ):
        rng = np.random.default_rng(0)
        base, cand = noisy_pair(rng, n=n, noise=0.1, repeats=repeats)
        measure(make_run(cand, run_id="cand"), make_run(base, run_id="base"), settings, n=n, repeats=repeats)


def measure(
    candidate: RunResults, baseline: RunResults, settings: GateSettings, *, n: int, repeats: int
) -> None:
    floor = best_of(5, lambda: (baseline_pass(baseline), baseline_pass(candidate)))
    gate = best_of(5, lambda: evaluate_gate(candidate, baseline, settings=settings))
    report = evaluate_gate(candidate, baseline, settings=settings)
    reports = best_of(
        3,
        lambda: (render_terminal(report), render_junit(report), render_markdown(report), render_html(report)),
    )
    per_case = (gate + reports) * 1000 / n
    print(
        f"{n} cases x {repeats} repeats, {settings.mode:>15}: gate {gate * 1000:7.1f} ms, "
        f"reports {reports * 1000:7.1f} ms -> {per_case:.3f} ms/case "
        f"({per_case / BUDGET_MS_PER_CASE:.1%} of the 5 ms budget; "
        f"gate = {gate / floor:.1f}x the plain pass-rate loop of {floor * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    main()
