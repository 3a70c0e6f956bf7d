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
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

from llmmon.checks.claims import sentence_spans
from llmmon.checks.polarity import is_negated
from llmmon.checks.quantities import Quantity, extract_quantities
from llmmon.checks.terms import content_terms
from llmmon.checks.weekdays import extract_weekdays

__all__ = ["DAY_WORDS", "Segment", "SegmentCache", "quantity_token", "segment_passage", "topic_terms"]

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


def quantity_token(quantity: Quantity) -> str:
    """A term standing for a quantity, so that a claim's *other* numbers help find its topic."""
    return f"q:{quantity.kind}:{quantity.unit}:{quantity.value:g}"


def topic_terms(text: str, quantities: list[Quantity], days: frozenset[int]) -> frozenset[str]:
    """Content terms without day names, plus one term per day and per quantity."""
    terms = set(content_terms(text)) - DAY_WORDS
    terms.update(f"day:{d}" for d in days)
    terms.update(quantity_token(q) for q in quantities)
    return frozenset(terms)


@dataclass(frozen=True, slots=True)
class Segment:
    """One clause of an evidence passage; offsets are into the passage text."""

    start: int
    end: int
    text: str
    terms: frozenset[str]
    context_terms: frozenset[str]  # of the whole line
    title_terms: frozenset[str]  # of the passage's heading path
    quantities: tuple[Quantity, ...]
    days: frozenset[int]
    line_days: frozenset[int]
    negated: bool
    conditional_negation: bool


def _clauses(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _CLAUSE.finditer(text, start, end):
        spans.append((cursor, match.start()))
        cursor = match.end()
    spans.append((cursor, end))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def _unwrap(text: str) -> str:
    """``text`` with hard-wrapped line breaks turned into spaces (same length, so offsets still hold).

    A break is soft when neither its line nor the next one is blank, a heading, a bullet or a table row.
    """
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
    for line in _unwrap(text).split("\n"):
        line_end = line_start + len(line)
        if line.strip() and not set(line.strip()) <= set("|-: "):
            line_days = extract_weekdays(line)
            line_terms = content_terms(line) - DAY_WORDS
            for sent_start, sent_end in sentence_spans(line):
                for a, b in _clauses(line, sent_start, sent_end):
                    clause = line[a:b]
                    quantities = extract_quantities(clause)
                    shifted = tuple(
                        Quantity(
                            q.kind,
                            q.value,
                            q.unit,
                            q.start + a + line_start,
                            q.end + a + line_start,
                            q.text,
                            q.approximate,
                            q.alt_value,
                        )
                        for q in quantities
                    )
                    days = extract_weekdays(clause)
                    segments.append(
                        Segment(
                            start=line_start + a,
                            end=line_start + b,
                            text=clause,
                            terms=topic_terms(clause, quantities, days),
                            context_terms=line_terms | {f"day:{d}" for d in line_days},
                            title_terms=title_terms,
                            quantities=shifted,
                            days=days,
                            line_days=line_days,
                            negated=is_negated(clause),
                            conditional_negation=bool(_CONDITIONAL_NEGATION.search(clause)),
                        )
                    )
        line_start = line_end + 1
    return tuple(segments)


class SegmentCache:
    """Parsed passages by passage id (bounded, least recently used dropped; thread-safe)."""

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
