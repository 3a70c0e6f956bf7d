"""Drift: compare a reference window with a current window, feature by feature.

Numeric features (input/output length, tokens, latency, judge score) are binned at the
reference's deciles; categorical ones (language, topic, refusal) by category. For each
feature the report gives:

* PSI (population stability index) over the bins, with shares floored at ``EPSILON`` so an
  empty bin does not make it infinite; 0.1-0.2 is a moderate shift, above 0.2 a large one;
* the two-sample Kolmogorov-Smirnov test (numeric features; ``scipy.stats.ks_2samp``);
* the chi-square test of the 2 x bins contingency table (``scipy.stats.chi2_contingency``);
* the bins that contribute most to the PSI, with their reference and current shares.

A feature *drifted* when its PSI is at least ``psi_threshold`` (default 0.2), or when a test
rejects "same distribution" at ``alpha`` and the PSI shows at least a moderate shift (0.1):
with thousands of traces a test alone flags differences too small to matter.

``topic`` is the knowledge-base documents cited as evidence by the checked claims of the
traces; when neither window has any, the question terms (the reference's most frequent
words, others pooled) stand in for it.

Seasonality-aware comparison: ``seasonal_weeks=k`` takes as reference the same weekday and
time of day as the current window in each of the previous ``k`` weeks.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from sqlalchemy import Engine

from llmmon.errors import ConfigError
from llmmon.monitor.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES, TraceFeatures, load_features
from llmmon.monitor.windows import Window, seasonal_windows

__all__ = [
    "EPSILON",
    "FEATURES",
    "BinContribution",
    "DriftReport",
    "FeatureDrift",
    "compare_categorical",
    "compare_numeric",
    "compute_drift",
    "psi",
]

EPSILON = 1e-4
FEATURES: tuple[str, ...] = (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES)
_MODERATE_PSI = 0.1
_TOP_BINS = 3
_TOP_TERMS = 30
_WORD = re.compile(r"\w{2,}")


@dataclass(frozen=True)
class BinContribution:
    """One bin's share in each window and its term of the PSI sum."""

    label: str
    reference_share: float
    current_share: float
    contribution: float


@dataclass(frozen=True)
class FeatureDrift:
    """The comparison of one feature between the two windows."""

    feature: str
    kind: str  # numeric | categorical
    reference_n: int
    current_n: int
    psi: float | None
    ks_statistic: float | None = None
    ks_pvalue: float | None = None
    chi2_statistic: float | None = None
    chi2_pvalue: float | None = None
    drifted: bool = False
    top_bins: list[BinContribution] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True)
class DriftReport:
    """Drift of every compared feature, with the windows it compared."""

    reference: list[Window]
    current: Window
    features: list[FeatureDrift]

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [item for item in self.features if item.drifted]

    def feature(self, name: str) -> FeatureDrift:
        for item in self.features:
            if item.feature == name:
                return item
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": [{"start": w.start.isoformat(), "end": w.end.isoformat()} for w in self.reference],
            "current": {"start": self.current.start.isoformat(), "end": self.current.end.isoformat()},
            "drifted": [item.feature for item in self.drifted],
            "features": [asdict(item) for item in self.features],
        }


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    shares = counts / total if total else np.zeros_like(counts, dtype=float)
    clipped: np.ndarray = np.clip(shares, EPSILON, None)
    return clipped


def psi(
    reference_counts: Sequence[float] | np.ndarray, current_counts: Sequence[float] | np.ndarray
) -> tuple[float, np.ndarray]:
    """PSI of two binned distributions and each bin's contribution (shares floored at EPSILON)."""
    reference = _shares(np.asarray(reference_counts, dtype=float))
    current = _shares(np.asarray(current_counts, dtype=float))
    terms = (current - reference) * np.log(current / reference)
    return float(terms.sum()), terms


def _chi2(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float | None, float | None]:
    table = np.vstack([reference_counts, current_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return None, None
    result = stats.chi2_contingency(table)
    return float(result.statistic), float(result.pvalue)


def _top(
    labels: Sequence[str], reference_counts: np.ndarray, current_counts: np.ndarray, terms: np.ndarray
) -> list[BinContribution]:
    reference = reference_counts / max(reference_counts.sum(), 1)
    current = current_counts / max(current_counts.sum(), 1)
    order = np.argsort(-np.abs(terms), kind="stable")[:_TOP_BINS]
    return [
        BinContribution(
            label=labels[i],
            reference_share=float(reference[i]),
            current_share=float(current[i]),
            contribution=float(terms[i]),
        )
        for i in order
        if terms[i] > 0 or len(order) == 1
    ]


def _decide(psi_value: float, pvalues: Sequence[float | None], *, psi_threshold: float, alpha: float) -> bool:
    if psi_value >= psi_threshold:
        return True
    return psi_value >= _MODERATE_PSI and any(p is not None and p < alpha for p in pvalues)


def _format_edge(value: float) -> str:
    return f"{value:.4g}"


def compare_numeric(
    feature: str,
    reference: Sequence[float],
    current: Sequence[float],
    *,
    bins: int = 10,
    psi_threshold: float = 0.2,
    alpha: float = 0.001,
    min_samples: int = 30,
) -> FeatureDrift:
    """PSI over the reference's quantile bins, KS and chi-square for one numeric feature."""
    ref = np.asarray(reference, dtype=float)
    cur = np.asarray(current, dtype=float)
    if len(ref) < min_samples or len(cur) < min_samples:
        return FeatureDrift(feature, "numeric", len(ref), len(cur), None, note=f"fewer than {min_samples} values")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
    labels = [f"< {_format_edge(edges[0])}"] if len(edges) else ["all"]
    labels += [f"[{_format_edge(a)}, {_format_edge(b)})" for a, b in itertools.pairwise(edges)]
    if len(edges):
        labels.append(f">= {_format_edge(edges[-1])}")
    psi_value, terms = psi(ref_counts, cur_counts)
    # The exact p-value is slow and can fail to converge for a few hundred values per side;
    # the asymptotic one is accurate there.
    ks = stats.ks_2samp(ref, cur, method="exact" if min(len(ref), len(cur)) < 100 else "asymp")
    chi2_statistic, chi2_pvalue = _chi2(ref_counts, cur_counts)
    ks_pvalue = float(ks.pvalue)
    return FeatureDrift(
        feature=feature,
        kind="numeric",
        reference_n=len(ref),
        current_n=len(cur),
        psi=psi_value,
        ks_statistic=float(ks.statistic),
        ks_pvalue=ks_pvalue,
        chi2_statistic=chi2_statistic,
        chi2_pvalue=chi2_pvalue,
        drifted=_decide(psi_value, [ks_pvalue, chi2_pvalue], psi_threshold=psi_threshold, alpha=alpha),
        top_bins=_top(labels, ref_counts, cur_counts, terms),
    )


def compare_categorical(
    feature: str,
    reference: Sequence[str],
    current: Sequence[str],
    *,
    psi_threshold: float = 0.2,
    alpha: float = 0.001,
    min_samples: int = 30,
    units: tuple[int, int] | None = None,
) -> FeatureDrift:
    """PSI and chi-square over the categories of one categorical feature.

    ``units``: how many traces the values came from, when a trace can contribute several
    values (topics) or none.
    """
    reference_n, current_n = units or (len(reference), len(current))
    if len(reference) < min_samples or len(current) < min_samples:
        return FeatureDrift(
            feature, "categorical", reference_n, current_n, None, note=f"fewer than {min_samples} values"
        )
    ref_counter, cur_counter = Counter(reference), Counter(current)
    labels = sorted(set(ref_counter) | set(cur_counter))
    ref_counts = np.array([ref_counter[label] for label in labels], dtype=float)
    cur_counts = np.array([cur_counter[label] for label in labels], dtype=float)
    psi_value, terms = psi(ref_counts, cur_counts)
    chi2_statistic, chi2_pvalue = _chi2(ref_counts, cur_counts)
    return FeatureDrift(
        feature=feature,
        kind="categorical",
        reference_n=reference_n,
        current_n=current_n,
        psi=psi_value,
        chi2_statistic=chi2_statistic,
        chi2_pvalue=chi2_pvalue,
        drifted=_decide(psi_value, [chi2_pvalue], psi_threshold=psi_threshold, alpha=alpha),
        top_bins=_top(labels, ref_counts, cur_counts, terms),
    )


def _terms(items: Sequence[TraceFeatures], vocabulary: set[str] | None) -> list[str]:
    words = [word.lower() for item in items for word in _WORD.findall(item.question)]
    if vocabulary is None:
        return words
    return [word if word in vocabulary else "(other)" for word in words]


def _feature(
    name: str,
    reference: Sequence[TraceFeatures],
    current: Sequence[TraceFeatures],
    options: Mapping[str, Any],
) -> FeatureDrift:
    if name in NUMERIC_FEATURES:
        ref = [v for v in (item.numeric(name) for item in reference) if v is not None and math.isfinite(v)]
        cur = [v for v in (item.numeric(name) for item in current) if v is not None and math.isfinite(v)]
        return compare_numeric(name, ref, cur, **options)
    categorical = {k: v for k, v in options.items() if k != "bins"}
    if name == "topic":
        ref_topics = [doc for item in reference for doc in item.topics]
        cur_topics = [doc for item in current for doc in item.topics]
        if ref_topics or cur_topics:
            units = (sum(1 for i in reference if i.topics), sum(1 for i in current if i.topics))
            return compare_categorical(name, ref_topics, cur_topics, units=units, **categorical)
        reference_words = _terms(reference, None)
        vocabulary = {word for word, _ in Counter(reference_words).most_common(_TOP_TERMS)}
        result = compare_categorical(
            name,
            _terms(reference, vocabulary),
            _terms(current, vocabulary),
            units=(len(reference), len(current)),
            **categorical,
        )
        note = "; ".join(part for part in ("question terms (no KB evidence)", result.note) if part)
        return FeatureDrift(**{**asdict(result), "top_bins": result.top_bins, "note": note})
    if name in ("language", "refusal"):
        return compare_categorical(
            name, [getattr(i, name) for i in reference], [getattr(i, name) for i in current], **categorical
        )
    raise ConfigError(f"unknown drift feature {name!r}; choose from {', '.join(FEATURES)}")


def compute_drift(
    engine: Engine,
    *,
    current: Window,
    reference: Window | Sequence[Window] | None = None,
    seasonal_weeks: int | None = None,
    features: Sequence[str] | None = None,
    filters: Mapping[str, str] | None = None,
    bins: int = 10,
    psi_threshold: float = 0.2,
    alpha: float = 0.001,
    min_samples: int = 30,
) -> DriftReport:
    """Compare the current window with a reference window (or the same hours of previous weeks)."""
    if (reference is None) == (seasonal_weeks is None):
        raise ConfigError("give either a reference window or seasonal_weeks")
    names = list(features or FEATURES)
    for name in names:
        if name not in FEATURES:
            raise ConfigError(f"unknown drift feature {name!r}; choose from {', '.join(FEATURES)}")
    if bins < 2:
        raise ConfigError("drift needs at least 2 bins")
    if seasonal_weeks is not None:
        reference_windows = seasonal_windows(current, weeks=seasonal_weeks)
    else:
        assert reference is not None
        reference_windows = [reference] if isinstance(reference, Window) else list(reference)
    reference_rows = load_features(engine, reference_windows, filters=filters)
    current_rows = load_features(engine, current, filters=filters)
    options = {"bins": bins, "psi_threshold": psi_threshold, "alpha": alpha, "min_samples": min_samples}
    report = [_feature(name, reference_rows, current_rows, options) for name in names]
    return DriftReport(reference=reference_windows, current=current, features=report)
