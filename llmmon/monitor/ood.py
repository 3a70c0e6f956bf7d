"""Per-trace out-of-distribution flags: questions unlike the reference traffic.

A current trace is flagged, with the reasons, when its question

* ``no_kb_match``: has no knowledge-base passage scoring at least ``min_retrieval_score``
  (BM25; by default the 1st percentile of the reference questions' best scores);
* ``unusual_length``: has a log length with a robust z-score (median / MAD of the reference)
  beyond ``z_threshold``;
* ``unseen_language``: is written in a script under ``min_language_share`` of the reference.

``burst`` says whether the share of flagged current traces is significantly above the share
the same rules flag in the reference (one-sided two-proportion z-test), so a burst of
questions the bot was never built for is visible before the answers go wrong.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from sqlalchemy import Engine

from llmmon.errors import ConfigError
from llmmon.knowledge.index import KnowledgeIndex
from llmmon.monitor.features import TraceFeatures, load_features
from llmmon.monitor.windows import Window

__all__ = ["OodFlag", "OodReport", "detect_ood"]

_MAD_SCALE = 1.4826  # MAD of a normal distribution -> its standard deviation
_MIN_MAD = 0.25


@dataclass(frozen=True)
class OodFlag:
    """One flagged trace and why."""

    trace_id: str
    question: str
    reasons: list[str]


@dataclass(frozen=True)
class OodReport:
    """Flags of the current window, and the flag rate of the same rules on the reference."""

    flags: list[OodFlag]
    current_n: int
    reference_n: int
    reference_flagged: int
    min_retrieval_score: float | None
    burst: bool
    burst_p_value: float | None
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def share(self) -> float:
        return len(self.flags) / self.current_n if self.current_n else 0.0


def _top_score(index: KnowledgeIndex | None, question: str) -> float:
    if index is None:
        return math.inf
    hits = index.search(question, k=1)
    return hits[0].score if hits else 0.0


def _flagger(
    reference: Sequence[TraceFeatures],
    *,
    index: KnowledgeIndex | None,
    min_retrieval_score: float | None,
    z_threshold: float,
    min_language_share: float,
) -> tuple[float | None, dict[str, object]]:
    lengths = np.log1p([len(item.question) for item in reference])
    median = float(np.median(lengths))
    # Floor: with few distinct questions the MAD is tiny; a length is only unusual when it is
    # several times the typical one (exp(3.5 * 0.25) ~ 2.4x at the default threshold).
    mad = max(float(np.median(np.abs(lengths - median))) * _MAD_SCALE, _MIN_MAD)
    languages = Counter(item.language for item in reference)
    seen = {name for name, count in languages.items() if count / len(reference) >= min_language_share}
    threshold = min_retrieval_score
    if index is not None and threshold is None:
        scores = [_top_score(index, item.question) for item in reference]
        threshold = float(np.quantile(scores, 0.01))
    return threshold, {"median": median, "mad": mad, "seen": seen, "z": z_threshold}


def _reasons(
    item: TraceFeatures, index: KnowledgeIndex | None, threshold: float | None, p: Mapping[str, object]
) -> list[str]:
    reasons = []
    if index is not None and threshold is not None and _top_score(index, item.question) < threshold:
        reasons.append("no_kb_match")
    z = (math.log1p(len(item.question)) - float(p["median"])) / float(p["mad"])  # type: ignore[arg-type]
    if abs(z) > float(p["z"]):  # type: ignore[arg-type]
        reasons.append("unusual_length")
    if item.language not in p["seen"]:  # type: ignore[operator]
        reasons.append("unseen_language")
    return reasons


def detect_ood(
    engine: Engine,
    *,
    reference: Window | Sequence[Window],
    current: Window,
    index: KnowledgeIndex | None = None,
    min_retrieval_score: float | None = None,
    z_threshold: float = 3.5,
    min_language_share: float = 0.01,
    filters: Mapping[str, str] | None = None,
    alpha: float = 0.01,
) -> OodReport:
    """Flag current traces unlike the reference; ConfigError when the reference is empty."""
    reference_rows = load_features(engine, reference, filters=filters)
    if not reference_rows:
        raise ConfigError("the reference window has no traffic to compare with")
    current_rows = load_features(engine, current, filters=filters)
    threshold, params = _flagger(
        reference_rows,
        index=index,
        min_retrieval_score=min_retrieval_score,
        z_threshold=z_threshold,
        min_language_share=min_language_share,
    )
    reference_flagged = sum(1 for item in reference_rows if _reasons(item, index, threshold, params))
    flags = []
    for item in current_rows:
        reasons = _reasons(item, index, threshold, params)
        if reasons:
            flags.append(OodFlag(trace_id=item.trace_id, question=item.question, reasons=reasons))
    p_value = None
    if current_rows:
        n1, n2 = len(current_rows), len(reference_rows)
        pooled = (len(flags) + reference_flagged) / (n1 + n2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        diff = len(flags) / n1 - reference_flagged / n2
        p_value = float(stats.norm.sf(diff / se)) if se > 0 else (0.0 if diff > 0 else 1.0)
    counts = Counter(reason for flag in flags for reason in flag.reasons)
    return OodReport(
        flags=flags,
        current_n=len(current_rows),
        reference_n=len(reference_rows),
        reference_flagged=reference_flagged,
        min_retrieval_score=threshold,
        burst=p_value is not None and p_value < alpha,
        burst_p_value=p_value,
        reasons=dict(sorted(counts.items())),
    )
