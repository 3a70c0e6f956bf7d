"""Tail sampling: which traces the (expensive) LLM judge looks at.

Every trace that is likely to be wrong or is new gets judged; a fixed share of the rest keeps
the judge's scores comparable over time. In order of precedence:

1. ``error`` -- any span of the trace failed;
2. ``thumbs_down`` -- a user voted it down (an ``eval_priority`` row);
3. ``tier1_flagged`` -- tier 1 found it hallucinated or could not settle it (unverifiable);
4. ``new_version`` / ``new_model`` -- a prompt version or model first seen less than
   ``new_version_hours`` before this trace started;
5. ``share`` -- ``judge_share`` of the rest, chosen by a hash of the trace id, so that every
   worker (and every re-run) picks the same traces.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from llmmon.checks.verdicts import FactCheckResult
from llmmon.monitor.inputs import TraceInputs

__all__ = ["SamplingPolicy", "in_share"]


def in_share(trace_id: str, share: float) -> bool:
    """True for a stable ``share`` of trace ids (the first 8 bytes of their SHA-256)."""
    if share <= 0:
        return False
    if share >= 1:
        return True
    digest = hashlib.sha256(trace_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


@dataclass(frozen=True)
class SamplingPolicy:
    """The tail-sampling rules; ``reason`` says why a trace is judged (None: it is not)."""

    judge_share: float = 0.1
    new_version_hours: float = 24.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.judge_share <= 1.0:
            raise ValueError(f"judge_share must be within [0, 1], got {self.judge_share}")
        if self.new_version_hours < 0:
            raise ValueError(f"new_version_hours must be >= 0, got {self.new_version_hours}")

    def reason(
        self,
        trace: TraceInputs,
        result: FactCheckResult | None,
        *,
        thumbs_down: bool,
        version_first_seen: Mapping[tuple[str, str], datetime],
        model_first_seen: Mapping[str, datetime],
    ) -> str | None:
        """Why ``trace`` should be judged, or None."""
        if trace.errored:
            return "error"
        if thumbs_down:
            return "thumbs_down"
        if result is not None and result.verdict in ("hallucinated", "unverifiable"):
            return "tier1_flagged"
        young = timedelta(hours=self.new_version_hours)
        started = trace.start_time  # may precede the first span that names the version or model
        if young and any(
            started - version_first_seen[v] < young for v in trace.prompt_versions if v in version_first_seen
        ):
            return "new_version"
        if young and any(started - model_first_seen[m] < young for m in trace.models if m in model_first_seen):
            return "new_model"
        if in_share(trace.trace_id, self.judge_share):
            return "share"
        return None
