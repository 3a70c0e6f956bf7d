"""Seeded simulations of the whole gate: A/A honesty under a noisy judge, and power against a real drop.

A "recorded noisy judge" flips each verdict independently with a known probability; the target
is deterministic, so any difference between the two runs is judge noise (A/A) or the injected drop.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from llmmon.evals.gate import evaluate_gate
from llmmon.evals.stats import paired_binary_test
from llmmon.evals.suite import GateSettings
from tests.evals.simulate import make_run, noisy_pair


def gate_pass_share(
    *, noise: float, drop: float, trials: int, n: int = 200, repeats: int = 1, seed: int
) -> float:
    rng = np.random.default_rng(seed)
    passed = 0
    for trial in range(trials):
        base, cand = noisy_pair(rng, n=n, noise=noise, drop=drop, repeats=repeats)
        settings = GateSettings(bootstrap_samples=1000, seed=trial)
        report = evaluate_gate(
            make_run(cand, run_id="cand"), make_run(base, run_id="base"), settings=settings
        )
        passed += report.decision == "pass"
    return passed / trials


@pytest.mark.parametrize("noise", [0.10, 0.27])
def test_aa_runs_pass_detect_mode_in_at_least_95_percent(noise: float) -> None:
    share = gate_pass_share(noise=noise, drop=0.0, trials=300, seed=20240601)
    assert share >= 0.95, f"A/A pass share {share:.3f} with {noise:.0%} judge flips"


def test_aa_with_repeats_passes_in_at_least_95_percent() -> None:
    share = gate_pass_share(noise=0.27, drop=0.0, trials=150, repeats=3, seed=7)
    assert share >= 0.95, f"A/A pass share {share:.3f} with 3 repeats"


def test_real_ten_point_drop_in_200_cases_is_caught_in_at_least_80_percent() -> None:
    # 5% of judge verdicts flip at random on top of the real 10-point drop.
    caught = 1 - gate_pass_share(noise=0.05, drop=0.10, trials=300, seed=11)
    assert caught >= 0.80, f"drop caught in only {caught:.3f}"


def test_exact_mcnemar_keeps_its_size_under_the_null() -> None:
    """Vectorised: 2,000 A/A pairs at 200 cases; the false-alarm rate must not exceed alpha."""
    rng = np.random.default_rng(5)
    n, trials, noise = 200, 2000, 0.2
    truth = rng.random((trials, n)) < 0.8
    base = truth ^ (rng.random((trials, n)) < noise)
    cand = truth ^ (rng.random((trials, n)) < noise)
    worse = np.count_nonzero(base & ~cand, axis=1)
    discordant = worse + np.count_nonzero(~base & cand, axis=1)
    p = stats.binom.sf(worse - 1, discordant, 0.5)  # P(X >= worse): the one-sided exact McNemar p
    assert float(np.mean(p < 0.05)) <= 0.05
    # the gate's own function agrees with the vectorised formula
    for i in range(5):
        assert paired_binary_test(base[i], cand[i], delta=0.0, alpha=0.05, hypothesis="worse").p_value == (
            pytest.approx(float(p[i]))
        )
