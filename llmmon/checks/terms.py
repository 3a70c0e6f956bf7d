"""Topic terms of a sentence: what a claim and an evidence passage must share to be "about the same thing".

English words are lower-cased, lightly stemmed and stripped of stop words; antonyms that only flip
polarity ("closed", "휴무") map onto their positive form so that "closed on Sundays" and "open on
Sundays" share their topic and differ only in polarity (see ``polarity.py``). Korean words lose a
trailing particle or ending and are cut into character bigrams, so "영업합니다" and "영업하며" meet.
Numbers are not terms: a shared number must never make two passages look related.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["content_terms", "stem"]

_STOP_EN = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "else",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "without",
        "into",
        "onto",
        "about",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "done",
        "have",
        "has",
        "had",
        "having",
        "can",
        "could",
        "will",
        "would",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "it",
        "its",
        "it's",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "how",
        "when",
        "where",
        "why",
        "we",
        "us",
        "our",
        "ours",
        "you",
        "your",
        "yours",
        "i",
        "me",
        "my",
        "mine",
        "he",
        "him",
        "his",
        "she",
        "her",
        "they",
        "them",
        "their",
        "not",
        "no",
        "never",
        "yes",
        "also",
        "just",
        "only",
        "very",
        "so",
        "too",
        "than",
        "such",
        "any",
        "all",
        "each",
        "every",
        "some",
        "more",
        "most",
        "other",
        "another",
        "both",
        "either",
        "neither",
        "nor",
        "please",
        "sure",
        "up",
        "down",
        "out",
        "over",
        "under",
        "again",
        "further",
        "once",
        "per",
        "via",
        "etc",
        "i.e",
        "e.g",
        "let",
        "lets",
        "get",
        "gets",
        "got",
        "one",
        "ones",
        "much",
        "many",
        "well",
        "like",
        "unlike",
        "s",
        "t",
        "don't",
        "doesn't",
        "isn't",
        "aren't",
        "can't",
        "won't",
        "cannot",
        "n't",
        "pm",
        "dollar",
        "dollars",
        "won",
    ]
)
# Words that only carry polarity map to the word they negate.
_CANONICAL = {
    "closed": "open",
    "close": "open",
    "closes": "open",
    "closing": "open",
    "opens": "open",
    "opening": "open",
    "opened": "open",
    "unavailable": "available",
    "availability": "available",
    "disallowed": "allowed",
    "prohibited": "allowed",
    "forbidden": "allowed",
    "permitted": "allowed",
    "allow": "allowed",
    "allows": "allowed",
    "excluded": "included",
    "excludes": "included",
    "include": "included",
    "includes": "included",
    "offers": "offer",
    "offered": "offer",
    "offering": "offer",
    "accepts": "accept",
    "accepted": "accept",
    "cost": "price",
    "costs": "price",
    "priced": "price",
    "prices": "price",
}
_CANONICAL_KO = {
    "휴무": "영업",
    "휴점": "영업",
    "휴업": "영업",
    "쉽니": "영업",
    "운영": "영업",
    "엽니": "영업",
    "열어": "영업",
    "열고": "영업",
    "열리": "영업",
    "불가": "가능",
}
_CANONICAL_KO_STEM = {"열": "영업", "닫": "영업", "엽": "영업"}  # 문을 열고 / 닫습니다: the verb stem alone
# Compounds whose bigrams would collide with another word's: 영업일 (business day) is not 영업 (open).
_KO_COMPOUNDS = {"영업일": "영업일", "영업시간": "영업시간"}
_KO_SUFFIXES = tuple(
    sorted(
        [
            "입니다",
            "합니다",
            "습니다",
            "됩니다",
            "있습니다",
            "없습니다",
            "에서는",
            "에서도",
            "에게서",
            "으로는",
            "으로도",
            "이라고",
            "라고",
            "이며",
            "하며",
            "이고",
            "하고",
            "에서",
            "에게",
            "으로",
            "까지",
            "부터",
            "에는",
            "에도",
            "이나",
            "이라",
            "처럼",
            "보다",
            "은",
            "는",
            "이",
            "가",
            "을",
            "를",
            "의",
            "에",
            "와",
            "과",
            "도",
            "로",
            "요",
            "며",
            "고",
            "만",
        ],
        key=len,
        reverse=True,
    )
)
_STOP_KO = frozenset(
    [
        "니다",
        "습니",
        "합니",
        "입니",
        "됩니",
        "있습",
        "없습",
        "하는",
        "있는",
        "하고",
        "하며",
        "그리",
        "또한",
        "경우",
        "모든",
        "통해",
        "위해",
        "대한",
        "요일",
        "오전",
        "오후",
        "달러",
    ]
)
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9+&'-]*[A-Za-z0-9+]|[A-Za-z]|\d+[A-Za-z]+[A-Za-z0-9]*|[가-힣]+")


def stem(word: str) -> str:
    """A light English stemmer: enough to meet "stores"/"store" and "opens"/"open", nothing clever."""
    if len(word) <= 3 or not word.isascii():
        return word
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: -len(suffix)] + keep
    return word


@lru_cache(maxsize=65_536)
def _korean_terms(word: str) -> tuple[str, ...]:
    for compound, term in _KO_COMPOUNDS.items():
        if word.startswith(compound):
            return (term, *_korean_terms(word[len(compound) :])) if len(word) > len(compound) + 1 else (term,)
    for suffix in _KO_SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix):
            word = word[: -len(suffix)]
            break
    if len(word) == 1:
        return (_CANONICAL_KO_STEM[word],) if word in _CANONICAL_KO_STEM else ()
    grams = [word[i : i + 2] for i in range(len(word) - 1)]
    return tuple(_CANONICAL_KO.get(g, g) for g in grams if g not in _STOP_KO)


@lru_cache(maxsize=262_144)
def _english_term(word: str) -> str | None:
    """The term of one English word, or None for a stop word (cached: the vocabulary is small)."""
    lower = word.lower().strip("'")
    if lower.endswith("'s"):
        lower = lower[:-2]
    if lower in _STOP_EN or (len(lower) < 2 and not word.isupper()):
        return None
    lower = _CANONICAL.get(lower, lower)
    stemmed = stem(lower)
    return _CANONICAL.get(stemmed, stemmed)


@lru_cache(maxsize=65_536)
def content_terms(text: str) -> frozenset[str]:
    """The set of topic terms of ``text`` (cached: evidence passages are checked again and again)."""
    terms: set[str] = set()
    for word in _WORD.findall(text):
        if word[0] >= "가":
            terms.update(_korean_terms(word))
            continue
        term = _english_term(word)
        if term is not None:
            terms.add(term)
    return frozenset(terms)
