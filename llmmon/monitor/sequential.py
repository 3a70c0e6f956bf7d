"""Confidence sequences: intervals that stay valid however often you look (canary analysis).

A fixed-n confidence interval checked every hour until it excludes zero is wrong far more
often than its nominal 5% (the "peeking" problem, Johari, Koomen, Pekelis & Walsh, *Peeking at
A/B tests*, KDD 2017). A *confidence sequence* covers the true value at all sample sizes at once
with probability ``1 - alpha``, so the canary report may be re-run whenever you like and acted
on as soon as it is decisive.

We use the Gaussian-mixture asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha,
Kennedy & Ramdas, *Time-uniform central limit theory and asymptotic confidence sequences*
(Annals of Statistics, 2024; arXiv:2103.06476), eq. (9)::

    mean ± sigma * sqrt( 2 (t rho² + 1) / (t² rho²) * log( sqrt(t rho² + 1) / alpha ) )

with ``rho`` tuned to be tightest near ``t_star`` samples (their Proposition B.1). Each arm
gets its own sequence at ``alpha / 2``; the difference (candidate - baseline) is bounded by the
two (a union bound: conservative, and valid for unequal, growing arm sizes). For 0/1 outcomes
the variance uses the Agresti-Coull-style estimate ``p = (k + 1) / (n + 2)`` so that an arm
with no events yet is not taken to have zero variance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ArmSummary", "Interval", "difference_interval", "half_width", "samples_needed", "summarise"]


@dataclass(frozen=True)
class ArmSummary:
    """Sample size, mean and variance of one arm's unit values."""

    n: int
    mean: float
    variance: float


@dataclass(frozen=True)
class Interval:
    """A point estimate with a time-uniform confidence interval."""

    estimate: float
    low: float
    high: float


def summarise(values: Sequence[float], *, binary: bool = False) -> ArmSummary:
    """The summary of an arm; binary outcomes get the (k+1)/(n+2) variance."""
    n = len(values)
    if n == 0:
        return ArmSummary(0, math.nan, math.nan)
    mean = math.fsum(values) / n
    if binary:
        p = (math.fsum(values) + 1) / (n + 2)
        return ArmSummary(n, mean, p * (1 - p))
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else math.inf
    return ArmSummary(n, mean, variance)


def _rho_squared(alpha: float, t_star: float) -> float:
    return (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / t_star


def half_width(n: int, variance: float, *, alpha: float, t_star: float = 500.0) -> float:
    """Half-width of the asymptotic confidence sequence for a mean after ``n`` samples."""
    if n <= 0 or not math.isfinite(variance):
        return math.inf
    rho2 = _rho_squared(alpha, t_star)
    inner = 2 * (n * rho2 + 1) / (n * n * rho2) * math.log(math.sqrt(n * rho2 + 1) / alpha)
    return math.sqrt(max(variance, 0.0)) * math.sqrt(inner)


def difference_interval(
    baseline: ArmSummary, candidate: ArmSummary, *, alpha: float, t_star: float = 500.0
) -> Interval:
    """Candidate minus baseline, from the two arms' sequences at ``alpha / 2`` each."""
    if baseline.n == 0 or candidate.n == 0:
        return Interval(math.nan, -math.inf, math.inf)
    hw_b = half_width(baseline.n, baseline.variance, alpha=alpha / 2, t_star=t_star)
    hw_c = half_width(candidate.n, candidate.variance, alpha=alpha / 2, t_star=t_star)
    estimate = candidate.mean - baseline.mean
    return Interval(estimate, estimate - hw_b - hw_c, estimate + hw_b + hw_c)


def samples_needed(
    baseline: ArmSummary,
    candidate: ArmSummary,
    *,
    gap: float,
    alpha: float,
    t_star: float = 500.0,
    limit: int = 10_000_000,
) -> int | None:
    """Candidate samples at which the difference interval would be narrower than ``gap``.

    Assumes the current means and variances hold and the arms keep their current size ratio;
    None when no sample size up to ``limit`` would do (the estimate sits on the margin).
    """
    if gap <= 0 or candidate.n == 0 or baseline.n == 0:
        return None
    ratio = baseline.n / candidate.n

    def width(n_c: int) -> float:
        n_b = max(1, round(n_c * ratio))
        return half_width(n_b, baseline.variance, alpha=alpha / 2, t_star=t_star) + half_width(
            n_c, candidate.variance, alpha=alpha / 2, t_star=t_star
        )

    if width(limit) >= gap:
        return None
    low, high = candidate.n, max(candidate.n, 1)
    while width(high) >= gap:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        if width(middle) >= gap:
            low = middle
        else:
            high = middle
    return high
