"""Paired tests for the gate: exact McNemar / Tango score test for pass-fail, bootstrap/Wilcoxon for scores.

All tests are one-sided on the *drop* ``D = mean(baseline) - mean(candidate)`` of case-aligned
values, with margin ``delta``:

* ``hypothesis="worse"`` (detect mode): H0 ``D <= delta`` vs H1 ``D > delta``; a small p means
  the candidate is significantly worse by more than ``delta``.
* ``hypothesis="noninferior"``: H0 ``D >= delta`` vs H1 ``D < delta``; a small p means the drop
  is shown to be smaller than ``delta``.

Confidence intervals are two-sided at level ``1 - 2*alpha`` for the difference candidate minus
baseline, so that each of their ends is the one-sided ``1 - alpha`` bound the test uses.
See docs/eval-gate.md for why these tests and these defaults.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

__all__ = [
    "Hypothesis",
    "PairedTest",
    "flip_rate",
    "holm",
    "minimum_detectable_drop",
    "paired_binary_test",
    "paired_score_test",
]

Hypothesis = Literal["worse", "noninferior"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PairedTest:
    """The outcome of one paired comparison."""

    test: str
    n: int
    baseline_mean: float
    candidate_mean: float
    difference: float  # candidate - baseline (negative = worse)
    ci_low: float
    ci_high: float
    ci_level: float
    p_value: float
    discordant_worse: int | None = None  # binary: baseline passed, candidate failed
    discordant_better: int | None = None  # binary: baseline failed, candidate passed


def holm(p_values: list[float]) -> list[float]:
    """Holm step-down adjusted p-values (same order as given); controls the family-wise error rate."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def flip_rate(passes: int, trials: int) -> float:
    """Chance that two distinct repeats of a case disagree: ``2k(r-k) / (r(r-1))``; 0 with one repeat."""
    if trials < 2:
        return 0.0
    return 2.0 * passes * (trials - passes) / (trials * (trials - 1))


def minimum_detectable_drop(
    n: int, *, sd_diff: float, alpha: float = 0.05, power: float = 0.8, delta: float = 0.0
) -> float | None:
    """Smallest true drop the one-sided test finds with probability ``power`` (normal approximation).

    ``sd_diff`` is the standard deviation of the per-case differences; for pass/fail it is about
    ``sqrt(discordant share)``.
    """
    if n <= 0:
        return None
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)
    return float(delta + z * sd_diff / math.sqrt(n))


# --------------------------------------------------------------------------- pass / fail


def _tango_z(worse: int, better: int, n: int, delta: float) -> float:
    """Tango's (1998) score statistic for H0 ``p_worse - p_better = delta`` on paired binary data."""
    if delta < 0:
        return -_tango_z(better, worse, n, -delta)
    b, c = float(worse), float(better)
    b_prime = b * (1 - delta) + c * (1 - 3 * delta) - 2 * delta * (n - b - c)
    p_better = (b_prime + math.sqrt(b_prime * b_prime + 8 * n * c * delta * (1 - delta))) / (4 * n)
    variance = (2 * p_better + delta - delta * delta) / n
    observed = (b - c) / n - delta
    if variance <= 0:
        return 0.0 if observed == 0 else math.copysign(math.inf, observed)
    return observed / math.sqrt(variance)


def _tango_interval(worse: int, better: int, n: int, level: float) -> tuple[float, float]:
    """Score interval for the drop ``p_worse - p_better`` by inverting Tango's test."""
    z = float(stats.norm.ppf(0.5 + level / 2))
    edge = 1 - 1e-9

    def solve(target: float, default: float) -> float:
        def f(d: float) -> float:
            return _tango_z(worse, better, n, d) - target

        lo, hi = -edge, edge
        if f(lo) * f(hi) > 0:
            return default
        return float(optimize.brentq(f, lo, hi, xtol=1e-10))

    return solve(z, -1.0), solve(-z, 1.0)


def paired_binary_test(
    baseline: npt.ArrayLike, candidate: npt.ArrayLike, *, delta: float, alpha: float, hypothesis: Hypothesis
) -> PairedTest:
    """Exact McNemar (binomial test on discordants) if ``delta == 0`` in detect mode, else Tango's test.

    McNemar is exact only for a zero margin; with a margin the discordant split depends on the
    unknown discordance rate, and Tango's score test is the standard answer (used in clinical
    non-inferiority trials of paired proportions).
    """
    b = np.asarray(baseline, dtype=bool)
    c = np.asarray(candidate, dtype=bool)
    n = int(b.size)
    if n == 0:
        raise ValueError("no paired cases to compare")
    worse = int(np.count_nonzero(b & ~c))
    better = int(np.count_nonzero(~b & c))
    if hypothesis == "worse" and delta == 0.0:
        test = "exact McNemar"
        discordant = worse + better
        p = (
            1.0
            if discordant == 0
            else float(stats.binomtest(worse, discordant, 0.5, alternative="greater").pvalue)
        )
    else:
        test = "Tango score test"
        z = _tango_z(worse, better, n, delta)
        p = float(stats.norm.sf(z)) if hypothesis == "worse" else float(stats.norm.cdf(z))
    level = 1 - 2 * alpha
    drop_low, drop_high = _tango_interval(worse, better, n, level)
    baseline_mean = float(b.mean())
    candidate_mean = float(c.mean())
    return PairedTest(
        test=test,
        n=n,
        baseline_mean=baseline_mean,
        candidate_mean=candidate_mean,
        difference=candidate_mean - baseline_mean,
        ci_low=-drop_high,
        ci_high=-drop_low,
        ci_level=level,
        p_value=min(1.0, p),
        discordant_worse=worse,
        discordant_better=better,
    )


# --------------------------------------------------------------------------- scores / pass rates


def _bootstrap_drops(drops: FloatArray, *, samples: int, seed: int) -> FloatArray:
    """Means of resampled per-case drops; chunked so 1,000 cases x 4,000 samples stays small in memory."""
    rng = np.random.default_rng(seed)
    n = drops.size
    out = np.empty(samples, dtype=np.float64)
    chunk = max(1, 2_000_000 // max(n, 1))
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        index = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = drops[index].mean(axis=1)
    return out


def _sign_flip_p(drops: FloatArray, *, samples: int, seed: int) -> float:
    """One-sided Monte Carlo p of the mean drop under random sign flips; ``(1+k)/(B+1)`` keeps it valid."""
    observed = float(drops.mean())
    nonzero = drops[drops != 0]
    if nonzero.size == 0:
        return 1.0
    rng = np.random.default_rng(seed + 1)
    hits = 0
    chunk = max(1, 2_000_000 // nonzero.size)
    for start in range(0, samples, chunk):
        size = min(chunk, samples - start)
        signs = rng.integers(0, 2, size=(size, nonzero.size)) * 2 - 1
        means = (signs * nonzero).sum(axis=1) / drops.size
        hits += int(np.count_nonzero(means >= observed - 1e-12))
    return (1 + hits) / (samples + 1)


def paired_score_test(
    baseline: npt.ArrayLike,
    candidate: npt.ArrayLike,
    *,
    delta: float,
    alpha: float,
    hypothesis: Hypothesis,
    method: Literal["bootstrap", "wilcoxon"] = "bootstrap",
    samples: int = 4000,
    seed: int = 0,
) -> PairedTest:
    """Paired test of the mean drop for judge scores and for pass rates when cases were repeated.

    ``bootstrap`` (default): a sign-flip permutation test when testing "worse" with no margin,
    otherwise the paired bootstrap. ``wilcoxon``: Wilcoxon signed-rank on the per-case drops.
    The interval is always the paired-bootstrap percentile interval.
    """
    b = np.asarray(baseline, dtype=np.float64)
    c = np.asarray(candidate, dtype=np.float64)
    n = int(b.size)
    if n == 0:
        raise ValueError("no paired cases to compare")
    drops = b - c
    boots = _bootstrap_drops(drops, samples=samples, seed=seed)
    if method == "wilcoxon":
        test = "Wilcoxon signed-rank"
        shifted = drops - delta
        if not np.any(shifted != 0):
            p = 1.0
        else:
            alternative = "greater" if hypothesis == "worse" else "less"
            with warnings.catch_warnings():
                # scipy warns that ties/zeros force the normal approximation; that is the intended fallback.
                warnings.simplefilter("ignore", category=UserWarning)
                p = float(stats.wilcoxon(shifted, zero_method="zsplit", alternative=alternative).pvalue)
    elif hypothesis == "worse" and delta == 0.0:
        # With no margin, "no difference" means the two runs are exchangeable per case, so the
        # sign-flip permutation test is exact (the score analogue of McNemar). The percentile
        # bootstrap would reject an A/A comparison at about alpha, this test at most alpha.
        test = "paired permutation (sign-flip)"
        p = _sign_flip_p(drops, samples=samples, seed=seed)
    else:
        test = "paired bootstrap"
        # Percentile-interval inversion: reject H0 exactly when delta lies outside the one-sided bound.
        if hypothesis == "worse":
            p = (1 + int(np.count_nonzero(boots <= delta))) / (samples + 1)
        else:
            p = (1 + int(np.count_nonzero(boots >= delta))) / (samples + 1)
    low_drop, high_drop = np.quantile(boots, [alpha, 1 - alpha])
    return PairedTest(
        test=test,
        n=n,
        baseline_mean=float(b.mean()),
        candidate_mean=float(c.mean()),
        difference=float(c.mean() - b.mean()),
        ci_low=float(-high_drop),
        ci_high=float(-low_drop),
        ci_level=1 - 2 * alpha,
        p_value=min(1.0, p),
    )
