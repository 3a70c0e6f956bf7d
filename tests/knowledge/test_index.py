"""Retrieval: BM25 over passages, Korean and mixed-language queries, the empty-KB warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from llmmon.knowledge.index import KnowledgeIndex, index_from_passages, index_from_paths
from llmmon.knowledge.ingest import parse_document
from llmmon.knowledge.passage import Passage, make_passage_id

DEMO_KB = Path(__file__).parents[2] / "examples" / "support_bot" / "kb"

GDP_LINE = "2024년 한국의 명목 GDP는 약 1.7조 달러입니다."
DISTRACTORS = [
    "2023년 일본의 명목 GDP는 약 4.2조 달러였습니다.",
    "미국의 GDP는 2024년에 약 29조 달러입니다.",
    "한국의 인구는 약 5,100만 명입니다.",
    "한국은행은 2024년에 기준금리를 3.5%로 유지했습니다.",
    "2024년 한국의 수출은 약 6,800억 달러였습니다.",
    "Korea's nominal GDP grew in 2023.",
    "명목 임금은 2024년에 약 2.1% 올랐습니다.",
]


def _text_index(lines: list[str]) -> KnowledgeIndex:
    document = parse_document("\n\n".join(lines), source="facts.txt", format="text")
    return index_from_passages(document.passages("facts"), name="facts")


def test_search_korean_gdp_line_is_top_hit_despite_particles_and_wrong_number() -> None:
    index = _text_index([*DISTRACTORS[:3], GDP_LINE, *DISTRACTORS[3:]])
    hits = index.search("2024년 한국의 GDP는 약 2.1조 달러입니다.", k=5)
    assert hits[0].text == GDP_LINE
    assert hits[0].doc == "facts.txt"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_search_korean_paraphrase_with_different_particles() -> None:
    index = _text_index([*DISTRACTORS, GDP_LINE])
    assert index.search("한국은 2024년 명목 GDP가 1.7조 달러였다", k=1)[0].text == GDP_LINE


def test_search_demo_kb_mixed_korean_english() -> None:
    index = index_from_paths([DEMO_KB], name="demo")
    korean = index.search("루멘 X1 화면 수리 비용은 얼마인가요?", k=3)
    assert korean[0].doc == "products.ko.md"
    assert "화면 수리" in korean[0].text
    english = index.search("How much is the Lumen X1 smartphone?", k=3)
    assert english[0].doc == "products.md"
    assert "Lumen X1 smartphone" in english[0].text
    saturday = index.search("토요일 고객센터 운영 시간", k=1)
    assert saturday[0].doc == "store-hours.ko.md" and "고객센터" in saturday[0].text


def test_search_evidence_offsets_point_into_the_document() -> None:
    index = index_from_paths([DEMO_KB], name="demo")
    for evidence in index.search("return within 30 days refund", k=5):
        document = (DEMO_KB / evidence.doc).read_text(encoding="utf-8")
        assert document[evidence.start : evidence.end] == evidence.text
        assert index.get(evidence.passage_id) is not None


def test_search_respects_k_and_leaves_out_passages_without_shared_terms() -> None:
    index = _text_index(["apples are red", "bananas are yellow", "cherries are red", "grapes"])
    assert len(index.search("red", k=1)) == 1
    assert {h.text for h in index.search("red", k=10)} == {"apples are red", "cherries are red"}
    assert index.search("durian", k=5) == []
    assert index.search("the and of", k=5) == []  # stop words only
    assert index.search("red", k=0) == []


def test_search_ties_are_broken_by_corpus_order() -> None:
    index = _text_index(["red one", "red two", "red three"])
    assert [h.text for h in index.search("red", k=2)] == ["red one", "red two"]


def test_empty_index_is_empty_warns_and_finds_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llmmon"):
        index = index_from_passages([], name="support")
    assert index.is_empty and len(index) == 0
    assert index.warnings == ("knowledge base 'support' is empty: every claim checked against it will be unverifiable",)
    assert "is empty" in caplog.text
    assert index.search("anything", k=5) == []
    assert not index.has_terms("anything")


def test_index_from_paths_skips_binary_file_and_keeps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "hours.md").write_text("# Hours\n\nWe open at 9 AM on weekdays.\n", encoding="utf-8")
    (tmp_path / "broken.txt").write_bytes(b"\x00\x01\x02binary")
    index = index_from_paths([tmp_path])
    assert len(index) == 1
    assert any("broken.txt" in w and "binary" in w for w in index.warnings)
    assert index.search("when do you open", k=1)[0].doc == "hours.md"


def test_index_from_paths_with_only_unusable_files_is_empty(tmp_path: Path) -> None:
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    index = index_from_paths([tmp_path], name="tmp")
    assert index.is_empty
    assert any("latin1.txt" in w and "not UTF-8" in w for w in index.warnings)
    assert any("is empty" in w for w in index.warnings)


def test_index_version_hash_follows_content(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one", encoding="utf-8")
    first = index_from_paths([tmp_path]).version_hash
    assert index_from_paths([tmp_path]).version_hash == first
    (tmp_path / "a.txt").write_text("two", encoding="utf-8")
    assert index_from_paths([tmp_path]).version_hash != first


def test_has_terms_checks_the_kb_vocabulary() -> None:
    index = index_from_paths([DEMO_KB], name="demo")
    assert index.has_terms("AirBeat Pro")
    assert index.has_terms("에어비트 프로")
    assert not index.has_terms("Galaxy S24")


def test_jsonl_record_evidence_names_the_record(tmp_path: Path) -> None:
    (tmp_path / "faq.jsonl").write_text(
        '{"id": "ship", "text": "We ship within 2 days.", "title": "Shipping"}\n'
        '{"id": "pay", "text": "We accept cards.", "title": "Payment"}\n',
        encoding="utf-8",
    )
    hit = index_from_paths([tmp_path]).search("how fast do you ship", k=1)[0]
    assert (hit.doc, hit.start, hit.end, hit.text) == ("faq.jsonl#ship", 0, 22, "We ship within 2 days.")


def test_titles_are_searchable_but_not_part_of_evidence_text() -> None:
    passages = [
        Passage("p1", "hours.md", 0, 13, "Closed Sunday", title="Opening hours"),
        Passage("p2", "misc.md", 0, 15, "Parking is free", title="Parking"),
    ]
    hit = index_from_passages(passages).search("opening hours", k=1)[0]
    assert (hit.passage_id, hit.text) == ("p1", "Closed Sunday")


def test_document_frequency_counts_passages_holding_the_rarest_term() -> None:
    texts = ["Iron Man was released in 2008.", "Zodiac was released in 2007.", "Zodiac stars Jake Gyllenhaal."]
    index = index_from_passages(
        [Passage(make_passage_id("t", f"d{i}", None, 0, len(t), t), f"d{i}", 0, len(t), t) for i, t in enumerate(texts)]
    )
    assert index.document_frequency("released") == 2  # stemmed like the index: "release" too
    assert index.document_frequency("release") == 2
    assert index.document_frequency("Zodiac") == 2
    assert index.document_frequency("Gyllenhaal") == 1
    assert index.document_frequency("Spielberg") == 0
    assert index.document_frequency("the") == 3  # stop words only
    assert index_from_passages([]).document_frequency("Zodiac") == 0
