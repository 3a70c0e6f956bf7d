"""Evidence passages cut into clauses, each with its topic terms, quantities, days and polarity.

A passage often lists many facts ("$699 ... The 256 GB model costs $799"; "open until 8 PM on
Monday ..., and until 9 PM on Wednesday"). Comparing a claim with the *clause* that is most about
the same thing, rather than with the whole passage, is what keeps a number stated about
something else from counting as support. The line and the passage title around a clause are
kept as weaker context. Parsed passages are cached: a KB is checked again and again.
"""

from __future__ import annotations

import itertools
import re
import weakref
from collections import OrderedDict
from dataclasses import replace
from threading import Lock
from typing import Any, ClassVar

from llmmon.checks.claims import sentence_spans
from llmmon.checks.polarity import is_negated
from llmmon.checks.quantities import Quantity, extract_quantities
from llmmon.checks.terms import content_terms
from llmmon.checks.weekdays import extract_weekdays

__all__ = [
    "DAY_WORDS",
    "Segment",
    "SegmentCache",
    "clause_spans",
    "quantity_token",
    "segment_passage",
    "topic_terms",
]

# Day names are compared as days ("day:6"), not as words.
DAY_WORDS = frozenset(
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "weekend",
        "weekday",
        "월요",
        "화요",
        "수요",
        "목요",
        "금요",
        "토요",
        "일요",
        "주말",
        "평일",
    ]
)
_CLAUSE = re.compile(
    r";\s+|,\s+(?=(?:and|but|while|whereas|although|though)\b)|(?<=[며고나만데서지])\s*,\s+(?=[가-힣])",
    re.IGNORECASE,
)
# A negation that only limits a condition ("not accepted after 30 days") does not deny the claim's topic.
_CONDITIONAL_NEGATION = re.compile(
    r"\b(?:not|no|cannot|n't)\b[^.;]{0,30}\b(?:after|before|beyond|unless|except|outside|more than|"
    r"longer than|once|without)\b|(?:이후|이전|초과|경과|외에는|제외)",
    re.IGNORECASE,
)

_BLOCK_START = re.compile(r"[ \t]*(?:[|#>*•-]|\d+[.)]\s|$)")
_TABLE_RULE = frozenset("|-: ")
# Cheap pre-checks: a text these find nothing in cannot hold a day name / a quantity, so the
# expensive extractors are skipped. They must match everything the extractors could match.
_MAYBE_DAY = re.compile(r"mon|tue|wed|thu|fri|sat|sun|weekday|weekend|[월화수목금토일]|주말|평일", re.IGNORECASE)
_MAYBE_QUANTITY = re.compile(
    r"\d|[한두세네다여일아열스정자]|\b(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|"
    r"seventy|eighty|ninety|noon|midday|midnight)\b",
    re.IGNORECASE,
)


def quantity_token(quantity: Quantity) -> str:
    """A term standing for a quantity, so that a claim's *other* numbers help find its topic."""
    return f"q:{quantity.kind}:{quantity.unit}:{quantity.value:g}"


def topic_terms(text: str, quantities: list[Quantity], days: frozenset[int]) -> frozenset[str]:
    """Content terms without day names, plus one term per day and per quantity."""
    terms = set(content_terms(text)) - DAY_WORDS
    terms.update(f"day:{d}" for d in days)
    terms.update(quantity_token(q) for q in quantities)
    return frozenset(terms)


class _Line:
    """One line of a passage; its days and words are worked out once, when a clause first needs them."""

    __slots__ = ("_days", "_words", "clauses", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.clauses: list[Segment] = []
        self._days: frozenset[int] | None = None
        self._words: frozenset[str] | None = None

    @property
    def days(self) -> frozenset[int]:
        if self._days is None:
            self._days = extract_weekdays(self.text) if _MAYBE_DAY.search(self.text) else frozenset()
        return self._days

    @property
    def words(self) -> frozenset[str]:
        """Content terms of the line without day names: the union of its clauses' (same tokens)."""
        if self._words is None:
            self._words = frozenset().union(*(seg.words for seg in self.clauses))
        return self._words


class Segment:
    """One clause of an evidence passage; offsets are into the passage text.

    Only the clause's words are computed when the passage is cut; its quantities, days and
    polarity are computed on first access and kept (most claims need only some of them, and a
    cold KB is cut into thousands of clauses).
    """

    __slots__ = (
        "_conditional",
        "_context_terms",
        "_days",
        "_line",
        "_negated",
        "_quantities",
        "_sentence",
        "_terms",
        "end",
        "start",
        "text",
        "title_terms",
        "words",
    )

    def __init__(
        self, start: int, end: int, text: str, line: _Line, title_terms: frozenset[str], sentence: list[Segment]
    ) -> None:
        self.start = start
        self.end = end
        self.text = text
        self._line = line
        self._sentence = sentence  # the clauses of its sentence, itself included
        self.title_terms = title_terms  # of the passage's heading path
        self.words = content_terms(text) - DAY_WORDS  # topic terms without day and quantity tokens
        self._quantities: tuple[Quantity, ...] | None = None
        self._days: frozenset[int] | None = None
        self._terms: frozenset[str] | None = None
        self._context_terms: frozenset[str] | None = None
        self._negated: bool | None = None
        self._conditional: bool | None = None

    def __repr__(self) -> str:
        return f"Segment({self.start}, {self.end}, {self.text!r})"

    @property
    def quantities(self) -> tuple[Quantity, ...]:
        """The clause's quantities, offsets shifted into the passage."""
        if self._quantities is None:
            if not _MAYBE_QUANTITY.search(self.text):
                self._quantities = ()
            else:
                shift = self.start
                self._quantities = tuple(
                    replace(q, start=q.start + shift, end=q.end + shift) for q in extract_quantities(self.text)
                )
        return self._quantities

    @property
    def days(self) -> frozenset[int]:
        if self._days is None:
            self._days = extract_weekdays(self.text) if self._line.days else frozenset()
        return self._days

    @property
    def line_days(self) -> frozenset[int]:
        return self._line.days

    @property
    def terms(self) -> frozenset[str]:
        """Topic terms of the clause: words plus one term per day and per quantity."""
        if self._terms is None:
            extra = [f"day:{d}" for d in self.days] + [quantity_token(q) for q in self.quantities]
            self._terms = self.words.union(extra) if extra else self.words
        return self._terms

    @property
    def context_terms(self) -> frozenset[str]:
        """Terms of the whole line (days as ``day:N``), plus the quantities of the clause's own
        sentence: a claim's *other* numbers stated in the clause next door ("within 14 days of
        delivery; a 10% restocking fee is deducted") tell which clause it is about, while a
        paragraph's other sentences hold numbers about other things."""
        if self._context_terms is None:
            line = self._line
            tokens = [f"day:{d}" for d in line.days]
            tokens.extend(quantity_token(q) for seg in self._sentence for q in seg.quantities)
            self._context_terms = line.words.union(tokens) if tokens else line.words
        return self._context_terms

    @property
    def line_words(self) -> frozenset[str]:
        return self._line.words

    @property
    def negated(self) -> bool:
        if self._negated is None:
            self._negated = is_negated(self.text)
        return self._negated

    @property
    def conditional_negation(self) -> bool:
        if self._conditional is None:
            self._conditional = bool(_CONDITIONAL_NEGATION.search(self.text))
        return self._conditional


def _clauses(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _CLAUSE.finditer(text, start, end):
        spans.append((cursor, match.start()))
        cursor = match.end()
    spans.append((cursor, end))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def clause_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each clause of ``text``, cut where passages are cut (sentences, then "; ",
    ", and", "...까지, ")."""
    return [span for start, end in sentence_spans(text) for span in _clauses(text, start, end)]


def _unwrap(text: str) -> str:
    """``text`` with hard-wrapped line breaks turned into spaces (same length, so offsets still hold).

    A break is soft when neither its line nor the next one is blank, a heading, a bullet or a table row.
    """
    if "\n" not in text:
        return text
    lines = text.split("\n")
    out = [lines[0]]
    for previous, line in itertools.pairwise(lines):
        soft = not _BLOCK_START.match(previous) and not _BLOCK_START.match(line)
        out.append((" " if soft else "\n") + line)
    return "".join(out)


def segment_passage(text: str, *, title: str = "") -> tuple[Segment, ...]:
    """The clauses of a passage with everything the fact checker compares."""
    title_terms = content_terms(title) - DAY_WORDS if title else frozenset()
    segments: list[Segment] = []
    line_start = 0
    for raw in _unwrap(text).split("\n"):
        line_end = line_start + len(raw)
        stripped = raw.strip()
        if stripped and not set(stripped) <= _TABLE_RULE:
            line = _Line(raw)
            for sent_start, sent_end in sentence_spans(raw):
                sentence: list[Segment] = []
                for a, b in _clauses(raw, sent_start, sent_end):
                    sentence.append(Segment(line_start + a, line_start + b, raw[a:b], line, title_terms, sentence))
                line.clauses.extend(sentence)
            segments.extend(line.clauses)
        line_start = line_end + 1
    return tuple(segments)


class SegmentCache:
    """Parsed passages by passage id (bounded, least recently used dropped; thread-safe).

    :meth:`for_index` gives the one cache of a knowledge-base index, so every checker of that
    index shares what was parsed (a segment's lazily computed facts are idempotent, so two
    threads racing to compute one store equal values).
    """

    _by_index: ClassVar[weakref.WeakKeyDictionary[Any, SegmentCache]] = weakref.WeakKeyDictionary()
    _by_index_lock: ClassVar[Lock] = Lock()

    @classmethod
    def for_index(cls, index: object) -> SegmentCache:
        """The cache shared by everything checking against ``index`` (a new one if it is not weak-referenceable)."""
        with cls._by_index_lock:
            try:
                cache = cls._by_index.get(index)
                if cache is None:
                    cache = cls._by_index[index] = cls()
            except TypeError:
                cache = cls()
        return cache

    def __init__(self, *, max_entries: int = 50_000) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Segment, ...]] = OrderedDict()
        self._lock = Lock()

    def get(self, passage_id: str, text: str, *, title: str = "") -> tuple[Segment, ...]:
        """The segments of a passage, parsed on first use."""
        key = f"{passage_id}\x1f{len(text)}"
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        segments = segment_passage(text, title=title)
        with self._lock:
            self._entries[key] = segments
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return segments
