"""A decline detector for the ``refuses`` assertion: does an answer refuse or say it cannot help?

Heuristics (documented in evalsuites/README.md), English and Korean:

* Only *decline phrases* count, never a bare "sorry"/"죄송합니다" ("Sorry for the wait, we open
  at 9" is an answer, not a refusal).
* English: "I can't/cannot/am unable to help|assist|answer|respond|discuss|comment",
  "I'm sorry, but I can't ...", "outside/beyond my scope", "I can only help with ...",
  "I don't have information about ...", "I don't know", "not something I can help with".
* Korean: a help/answer verb (답변, 대답, 도와, 도움, 안내, 알려, 말씀, 응답) followed within a
  word or two by 수 없 / 어렵 ("답변드릴 수 없습니다", "안내해 드리기 어렵습니다"), plus
  "정보가 없", "범위를 벗어나", "...에 대해서는 알지 못합니다", "모르겠습니다", "관련된 질문에만".
* A policy sentence such as "refunds cannot be provided" is deliberately *not* matched: the
  English verbs exclude "provide"/"offer", and Korean requires a help/answer verb.

False negatives are possible for unusual phrasings; add a ``regex`` or ``python`` assertion for them.
"""

from __future__ import annotations

import re

__all__ = ["detect_refusal"]

_EN_PATTERNS = [
    r"\b(?:i|we)(?:\s+(?:am|are))?\s*(?:'m|'re)?\s+(?:sorry|afraid)\b"
    r"[^.!?\n]{0,60}?\b(?:can(?:not|'t)|unable|not able)\b",
    r"\b(?:i|we)\s*(?:can(?:not|'t| not)|(?:am|'m|are|'re)\s+(?:unable|not able)\s+to|won't be able to)"
    r"\s+(?:help|assist|answer|respond|discuss|comment|advise|support you)",
    r"\b(?:outside|beyond)\s+(?:of\s+)?(?:my|our|the)\s+(?:scope|area|expertise|knowledge)",
    r"\b(?:i|we)\s+(?:can|am able to|are able to)\s+only\s+(?:help|answer|assist|discuss)",
    r"\b(?:i|we)\s+only\s+(?:help|answer|assist|handle)\b",
    r"\b(?:i|we)\s+(?:don't|do not)\s+have\s+(?:any\s+)?(?:information|details|data|knowledge)"
    r"\s+(?:about|on|regarding)",
    r"\b(?:i|we)\s+(?:don't|do not)\s+know\b",
    r"\bnot\s+(?:something|a (?:topic|question))\s+(?:i|we)\s+can\s+(?:help|assist|answer)",
]
_KO_PATTERNS = [
    r"(?:답변|대답|도와|도움|안내|알려|말씀|응답)[가-힣]*(?:\s+[가-힣]+)?\s*(?:수\s*(?:가\s*)?없|어렵)",
    r"(?:관련\s*)?정보(?:가|를)?\s*(?:가지고\s*있지\s*않|없습니다|없어요|찾을\s*수\s*없)",
    r"범위(?:를|에서)?\s*벗어",
    r"(?:알지\s*못합니다|모르겠습니다|알\s*수\s*없습니다)",
    r"(?:관련된|관한)\s*(?:질문|문의)에?만",
]
_PATTERNS = [re.compile(p, re.IGNORECASE) for p in (*_EN_PATTERNS, *_KO_PATTERNS)]


def detect_refusal(text: str) -> str | None:
    """The decline phrase found in ``text``, or None when the text reads as an answer."""
    normalised = text.replace("\u2019", "'").replace("\u2018", "'")
    for pattern in _PATTERNS:
        match = pattern.search(normalised)
        if match:
            return match.group(0)
    return None
