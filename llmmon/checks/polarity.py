"""Whether a sentence asserts or denies: "closed on Sundays" vs "open on Sundays", "do not offer" vs "offer".

Polarity is the parity of negation cues (English "not", "no", "never", "n't", "closed",
"unavailable"...; Korean 안/않/없/못/불가/휴무...), after dropping a leading "No," or "아니요," that
only answers the user's question. Two negations cancel ("not closed" = open).
"""

from __future__ import annotations

import re

__all__ = ["is_negated", "negation_cues"]

_LEADING_ANSWER = re.compile(r"^\s*(?:no|nope|yes|yeah|아니요|아뇨|네|예)\s*[,.!]\s*", re.IGNORECASE)
_EN_CUES = re.compile(
    r"\b(?:not|no|never|none|nobody|nothing|nor|neither|cannot|closed|unavailable|without|"
    r"non-refundable|nonrefundable|unable|prohibited|forbidden|excluded|except)\b|n't\b",
    re.IGNORECASE,
)
_KO_CUES = re.compile(r"(?<![가-힣])안\s|(?<![가-힣])못\s|않|없|불가|휴무|휴점|휴업|쉽니다|아닙니다|아니|금지|제외")
# "no later than", "not only", "no matter": negation words that do not deny the claim.
_NOT_NEGATION = re.compile(
    r"\b(?:no later than|not only|no matter|no more than|not just|no less than)\b", re.IGNORECASE
)


def negation_cues(text: str) -> list[str]:
    """The negation cues found in ``text`` (for explaining a polarity verdict)."""
    body = _NOT_NEGATION.sub(" ", _LEADING_ANSWER.sub("", text))
    return [m.group(0).strip() for m in _EN_CUES.finditer(body)] + [m.group(0).strip() for m in _KO_CUES.finditer(body)]


def is_negated(text: str) -> bool:
    """True when ``text`` denies rather than asserts (odd number of negation cues)."""
    return len(negation_cues(text)) % 2 == 1
