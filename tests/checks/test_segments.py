"""Passages cut into clauses: the lazily computed facts equal extracting them directly; one cache per index."""

from __future__ import annotations

from llmmon.checks.polarity import is_negated
from llmmon.checks.quantities import extract_quantities
from llmmon.checks.segments import DAY_WORDS, SegmentCache, segment_passage
from llmmon.checks.terms import content_terms
from llmmon.checks.weekdays import extract_weekdays
from tests.checks.conftest import passages_index

PASSAGE = (
    "# Opening hours\n"
    "The store opens at 10 AM and closes at 8 PM on Monday to Friday; on Saturday it closes at 6 PM.\n"
    "We are closed on Sundays, but online orders ship within two business days.\n"
    "매장은 평일 오전 10시부터 오후 8시까지 영업하며, 일요일은 휴무입니다.\n"
    "The Lumen X1 costs $699 (949,000원)."
)


def test_lazy_segment_facts_equal_direct_extraction() -> None:
    segments = segment_passage(PASSAGE, title="Store")
    assert len(segments) >= 6
    for seg in segments:
        assert PASSAGE[seg.start : seg.end] == seg.text
        expected = extract_quantities(seg.text)
        assert [(q.kind, q.value, q.unit) for q in seg.quantities] == [(q.kind, q.value, q.unit) for q in expected]
        assert all(PASSAGE[q.start : q.end] == q.text for q in seg.quantities)  # offsets into the passage
        assert seg.days == extract_weekdays(seg.text)
        assert seg.negated == is_negated(seg.text)
        assert seg.words == content_terms(seg.text) - DAY_WORDS
        assert {f"day:{d}" for d in seg.days} <= seg.terms
        assert seg.words <= seg.line_words <= seg.context_terms
        assert "store" in seg.title_terms
    sunday = next(s for s in segments if "Sundays" in s.text)
    assert sunday.days == {6} and sunday.negated
    korean = next(s for s in segments if "휴무" in s.text)
    assert 6 in korean.line_days


def test_text_without_digits_number_words_or_day_names_skips_the_extractors() -> None:
    (seg,) = segment_passage("Gift wrapping is free for members")
    assert seg.quantities == () and seg.days == frozenset() and seg.line_days == frozenset()


def test_segment_cache_is_shared_per_index_and_parses_once() -> None:
    index = passages_index(PASSAGE)
    other = passages_index(PASSAGE)
    cache = SegmentCache.for_index(index)
    assert SegmentCache.for_index(index) is cache
    assert SegmentCache.for_index(other) is not cache
    passage = index.passages[0]
    first = cache.get(passage.passage_id, passage.text)
    assert cache.get(passage.passage_id, passage.text) is first
    assert SegmentCache.for_index(object.__new__(type("Slotted", (), {"__slots__": ()}))) is not cache
