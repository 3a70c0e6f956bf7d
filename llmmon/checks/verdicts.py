"""Values the checks produce: claims, evidence, per-claim verdicts, per-answer results, judge scores.

These are plain frozen dataclasses so that the knowledge base, the deterministic
checks, the LLM judge, the eval gate and storage can pass them around without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AnswerVerdict",
    "Claim",
    "ClaimVerdict",
    "Evidence",
    "FactCheckResult",
    "FailureKind",
    "Score",
    "Tier",
    "Verdict",
]

Verdict = Literal["supported", "contradicted", "unverifiable"]
AnswerVerdict = Literal["supported", "hallucinated", "unverifiable"]
Tier = Literal["deterministic", "llm"]
FailureKind = Literal["grounding_failure", "retrieval_miss", "kb_gap"]


@dataclass(frozen=True)
class Evidence:
    """A knowledge-base passage retrieved for a claim; offsets are into its document."""

    passage_id: str
    doc: str
    start: int
    end: int
    text: str
    score: float = 0.0
    quote: str | None = None  # the exact span of ``text`` that supports or contradicts the claim


@dataclass(frozen=True)
class Claim:
    """One atomic checkable statement; ``start``/``end`` are offsets into the answer."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class ClaimVerdict:
    """The verdict on one claim, the tier that decided it, and the evidence behind it."""

    claim: Claim
    verdict: Verdict
    tier: Tier
    evidence: tuple[Evidence, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class FactCheckResult:
    """The verdict on a whole answer: supported, hallucinated or unverifiable, with a score in [0, 1]."""

    verdict: AnswerVerdict
    score: float
    claims: tuple[ClaimVerdict, ...] = ()
    failure_kind: FailureKind | None = None
    warnings: tuple[str, ...] = ()

    @property
    def hallucinated(self) -> bool:
        """True when the answer was judged hallucinated."""
        return self.verdict == "hallucinated"


@dataclass(frozen=True)
class Score:
    """One judge (or assertion) score. ``status == "unscored"`` means the judge failed: never pass or fail."""

    name: str
    value: float | None
    passed: bool | None
    status: Literal["scored", "unscored", "skipped"] = "scored"
    reason: str = ""
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
