"""Unit checks of the paired statistics against known values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from llmmon.evals.stats import (
    flip_rate,
    holm,
    minimum_detectable_drop,
    paired_binary_test,
    paired_score_test,
)


def test_holm_matches_the_textbook_example() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]
    assert holm([]) == []


def test_flip_rate_is_pairwise_disagreement() -> None:
    assert flip_rate(2, 4) == pytest.approx(4 / 6)
    assert flip_rate(3, 3) == 0.0 and flip_rate(1, 1) == 0.0


def test_exact_mcnemar_equals_binomial_on_discordant_pairs() -> None:
    base = np.array([1] * 30 + [0] * 10 + [1] * 50 + [0] * 10, dtype=bool)
    cand = np.array([0] * 30 + [1] * 10 + [1] * 50 + [0] * 10, dtype=bool)
    result = paired_binary_test(base, cand, delta=0.0, alpha=0.05, hypothesis="worse")
    assert (result.discordant_worse, result.discordant_better) == (30, 10)
    assert result.p_value == pytest.approx(stats.binomtest(30, 40, 0.5, alternative="greater").pvalue)
    assert result.difference == pytest.approx(-0.2)
    assert result.ci_low < -0.2 < result.ci_high < 0 and result.ci_level == pytest.approx(0.9)


def test_tango_margin_test_is_monotone_in_the_margin() -> None:
    base = np.ones(200, dtype=bool)
    cand = base.copy()
    cand[:10] = False  # 5-point drop
    ps = [
        paired_binary_test(base, cand, delta=d, alpha=0.05, hypothesis="worse").p_value
        for d in (0.01, 0.03, 0.05)
    ]
    assert ps[0] < ps[1] < ps[2]
    ni = [
        paired_binary_test(base, cand, delta=d, alpha=0.05, hypothesis="noninferior").p_value
        for d in (0.06, 0.1)
    ]
    assert ni[1] < ni[0] and ni[1] < 0.05


def test_bootstrap_margin_and_permutation_paths() -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(0.5, 1.0, 300)
    same = paired_score_test(base, base, delta=0.0, alpha=0.05, hypothesis="worse")
    assert same.test == "paired permutation (sign-flip)" and same.p_value == 1.0
    lower = base - 0.02
    ni = paired_score_test(base, lower, delta=0.05, alpha=0.05, hypothesis="noninferior", samples=1000)
    assert ni.test == "paired bootstrap" and ni.p_value < 0.05 and ni.difference == pytest.approx(-0.02)
    not_ni = paired_score_test(
        base, base - 0.08, delta=0.05, alpha=0.05, hypothesis="noninferior", samples=1000
    )
    assert not_ni.p_value > 0.5
    assert paired_score_test(base, lower, delta=0.0, alpha=0.05, hypothesis="worse", seed=3).p_value < 0.01


def test_empty_input_is_refused() -> None:
    with pytest.raises(ValueError, match="no paired cases"):
        paired_binary_test([], [], delta=0.0, alpha=0.05, hypothesis="worse")
    with pytest.raises(ValueError, match="no paired cases"):
        paired_score_test([], [], delta=0.0, alpha=0.05, hypothesis="worse")


def test_minimum_detectable_drop_shrinks_with_suite_size() -> None:
    small = minimum_detectable_drop(50, sd_diff=0.4)
    large = minimum_detectable_drop(800, sd_diff=0.4)
    assert small is not None and large is not None and large == pytest.approx(small / 4)
    assert small == pytest.approx((1.6448536 + 0.8416212) * 0.4 / np.sqrt(50), rel=1e-6)
    assert minimum_detectable_drop(0, sd_diff=0.4) is None
