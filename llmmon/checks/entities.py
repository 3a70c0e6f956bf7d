"""Named entities and capitalised terms of a claim that appear nowhere in the knowledge base.

A chatbot that invents a product ("Lumen X3"), a branch ("our Busan store") or a programme
("ProCare Plus") names something the knowledge base never mentions. Candidates are capitalised
words that do not start the sentence, CamelCase words and letter-digit codes (X3, S2, 20K);
days, months and common abbreviations are not entities. The KB's vocabulary is built once per
index and kept while the index lives.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from collections.abc import Iterable
from typing import Any, ClassVar

__all__ = ["KbVocabulary", "entity_candidates"]

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9+&'’-]*")
_NOT_ENTITIES = frozenset(
    [
        "i",
        "i'm",
        "i'd",
        "i'll",
        "i've",
        "am",
        "pm",
        "a.m",
        "p.m",
        "ok",
        "okay",
        "usd",
        "krw",
        "eur",
        "gbp",
        "jpy",
        "vat",
        "faq",
        "id",
        "tv",
        "pc",
        "ai",
        "us",
        "uk",
        "eu",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mr",
        "mrs",
        "ms",
        "dr",
        "the",
    ]
)
_CODE = re.compile(r"^(?=.*[A-Za-z])(?=.*\d)[A-Za-z0-9-]+$")
_CAMEL = re.compile(r"^[A-Z]?[a-z]+[A-Z][A-Za-z]*$")
_WORD_CHARS = re.compile(r"[A-Za-z0-9+&'’-]")


def _normalise(token: str) -> str:
    token = token.lower().replace("’", "'")
    return token[:-2] if token.endswith("'s") else token.strip("'-")


def entity_candidates(text: str) -> list[tuple[str, int, int]]:
    """(token, start, end) of each entity-like token in ``text``; the sentence's first word is skipped
    unless it is a code or CamelCase (a capital there says nothing)."""
    found: list[tuple[str, int, int]] = []
    first = True
    for match in _TOKEN.finditer(text):
        token = match.group(0).rstrip("'’-")
        is_first, first = first, False
        word = _normalise(token)
        if word in _NOT_ENTITIES or word.rstrip("s") in _NOT_ENTITIES or len(token) < 2:
            continue
        if token.isdigit() or re.fullmatch(r"\d+(?:st|nd|rd|th|s|k|m|gb|tb|mah|w|am|pm|h)?", token, re.I):
            continue  # numbers and units are the quantity checker's business
        is_code = bool(_CODE.match(token)) and not token[0].isdigit()
        is_capitalised = token[0].isupper() and not is_first
        if is_code or _CAMEL.match(token) or is_capitalised:
            found.append((token, match.start(), match.start() + len(token)))
    return found


class KbVocabulary:
    """Which lower-cased words occur anywhere in a knowledge base (built lazily, once per index)."""

    _cache: ClassVar[weakref.WeakKeyDictionary[Any, frozenset[str]]] = weakref.WeakKeyDictionary()

    def __init__(self, index: Any) -> None:
        self._index = index
        self._words: frozenset[str] | None = None

    def _load(self) -> frozenset[str] | None:
        if self._words is not None:
            return self._words
        try:
            cached = self._cache.get(self._index)
        except TypeError:  # not weak-referenceable
            cached = None
        if cached is not None:
            self._words = cached
            return cached
        passages: Iterable[Any] | None = getattr(self._index, "passages", None)
        if passages is None:
            return None
        tokens: set[str] = set()
        for passage in passages:
            tokens.update(_TOKEN.findall(getattr(passage, "text", "")))
            tokens.update(_TOKEN.findall(getattr(passage, "title", "") or ""))
        self._words = frozenset(_normalise(t) for t in tokens)  # normalise each distinct token once
        with contextlib.suppress(TypeError):
            self._cache[self._index] = self._words
        return self._words

    def contains(self, token: str, *, seen_texts: Iterable[str] = ()) -> bool:
        """True when ``token`` occurs in the KB (or, for an index without a passage list, in a search hit)."""
        word = _normalise(token)
        words = self._load()
        if words is not None:
            return word in words  # every passage, so every search hit too
        for text in seen_texts:
            if word in (_normalise(t) for t in _TOKEN.findall(text)):
                return True
        hits = self._index.search(token, k=3)
        return any(word in (_normalise(t) for t in _TOKEN.findall(hit.text)) for hit in hits)
