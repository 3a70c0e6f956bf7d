"""What went wrong when an answer is hallucinated, given what the app itself retrieved.

* ``grounding_failure`` -- the app's context held the passage the answer contradicts: the model
  ignored it (fix the prompt or the model);
* ``retrieval_miss`` -- the KB has a passage on the topic but the app did not retrieve it (fix retrieval);
* ``kb_gap`` -- nothing in the KB covers the claim (fix the knowledge base).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from llmmon.checks.terms import content_terms
from llmmon.checks.verdicts import Evidence, FailureKind

__all__ = ["classify_failure", "context_contains"]

_SPACE = re.compile(r"\s+")
_MIN_TERM_SHARE = 0.8


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def context_contains(context: Sequence[str], evidence: Evidence) -> bool:
    """True when the app's context holds ``evidence`` (verbatim, or nearly all of its terms in one chunk)."""
    quote = _normal(evidence.quote or evidence.text)
    if not quote:
        return False
    terms = content_terms(evidence.quote or evidence.text)
    for chunk in context:
        normal = _normal(chunk)
        if quote in normal:
            return True
        if terms and len(terms & content_terms(chunk)) >= _MIN_TERM_SHARE * len(terms):
            return True
    return False


def classify_failure(decisive: Sequence[tuple[Sequence[Evidence], bool]], context: Sequence[str]) -> FailureKind | None:
    """The failure kind of a hallucinated answer from its decisive claims (evidence, KB has the topic).

    The most actionable kind wins: a grounding failure over a retrieval miss over a KB gap.
    """
    if not decisive:
        return None
    kinds: set[FailureKind] = set()
    for evidence, on_topic in decisive:
        if evidence and any(context_contains(context, item) for item in evidence):
            kinds.add("grounding_failure")
        elif evidence or on_topic:
            kinds.add("retrieval_miss")
        else:
            kinds.add("kb_gap")
    for kind in ("grounding_failure", "retrieval_miss", "kb_gap"):
        if kind in kinds:
            return kind
    return None
