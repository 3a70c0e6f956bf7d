"""Ingestion: formats, splitting, offsets, stable ids, and files that must be skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmmon.errors import KnowledgeBaseError
from llmmon.knowledge.ingest import collect_documents, detect_csv_columns, parse_document, read_document

DEMO_KB = Path(__file__).parents[2] / "examples" / "support_bot" / "kb"


def _assert_offsets(document_text: str, passages: list) -> None:  # type: ignore[type-arg]
    for passage in passages:
        assert document_text[passage.start : passage.end] == passage.text
        assert passage.text == passage.text.strip() and passage.text


def test_ingest_demo_kb_markdown_keeps_heading_path_and_offsets() -> None:
    result = collect_documents([DEMO_KB])
    assert result.skipped == []
    assert {d.source for d in result.documents} >= {"store-hours.md", "store-hours.ko.md"}
    for document in result.documents:
        assert document.format == "markdown"
        _assert_offsets(document.text, document.passages("demo"))
    hours = next(d for d in result.documents if d.source == "store-hours.md")
    assert hours.title == "Store hours and locations"
    titles = {p.title for p in hours.passages("demo")}
    assert "Store hours and locations > Public holidays" in titles


def test_ingest_markdown_nested_headings_pop_back_to_parent_level() -> None:
    text = "# Guide\n\n## A\n\n### A1\n\nalpha one\n\n## B\n\nbeta\n"
    document = parse_document(text, source="guide.md", format="markdown")
    assert [(p.title, p.text) for p in document.passages("kb")] == [
        ("Guide > A > A1", "alpha one"),
        ("Guide > B", "beta"),
    ]


def test_ingest_markdown_fenced_code_is_not_split_and_hides_headings() -> None:
    text = "# Setup\n\nRun this:\n\n```bash\n# not a heading\n\necho hi\n```\n\nDone.\n"
    document = parse_document(text, source="setup.md", format="markdown")
    passages = document.passages("kb")
    _assert_offsets(text, passages)
    # The "Run this:" intro is joined with the block it introduces; the fence is one block.
    assert passages[0].text == "Run this:\n\n```bash\n# not a heading\n\necho hi\n```"
    assert passages[0].title == "Setup"
    assert passages[1].text == "Done."


def test_ingest_markdown_front_matter_is_skipped_and_gives_title() -> None:
    text = '---\ntitle: "Opening hours"\nowner: ops\n---\nWe open at 9.\n'
    document = parse_document(text, source="hours.md", format="markdown")
    assert document.title == "Opening hours"
    assert [p.text for p in document.passages("kb")] == ["We open at 9."]


def test_ingest_long_paragraph_is_split_on_sentences_within_max_chars() -> None:
    sentences = [f"Sentence number {i} talks about topic {i} in some detail." for i in range(40)]
    text = " ".join(sentences)
    document = parse_document(text, source="long.txt", format="text", max_chars=200)
    passages = document.passages("kb")
    assert len(passages) > 5
    _assert_offsets(text, passages)
    assert all(len(p.text) <= 200 for p in passages)
    assert all(p.text.endswith(".") for p in passages)  # cut at sentence ends
    assert " ".join(p.text for p in passages) == text


def test_ingest_unbreakable_text_is_hard_split() -> None:
    text = "x" * 500
    passages = parse_document(text, source="blob.txt", format="text", max_chars=100).passages("kb")
    assert [len(p.text) for p in passages] == [100] * 5
    _assert_offsets(text, passages)


def test_ingest_plain_text_paragraphs_and_crlf_bom_normalised(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("\ufeffFirst paragraph.\r\nStill first.\r\n\r\n\r\nSecond one.\r\n".encode())
    document = read_document(path)
    assert document.text == "First paragraph.\nStill first.\n\n\nSecond one.\n"
    assert [p.text for p in document.passages("kb")] == ["First paragraph.\nStill first.", "Second one."]
    assert all(p.title == "notes" for p in document.passages("kb"))
    _assert_offsets(document.text, document.passages("kb"))


def test_ingest_jsonl_records_with_ids_titles_and_record_offsets() -> None:
    lines = [
        {"id": "hours", "text": "  Open 9 to 5.  ", "title": "Hours"},
        {"text": "No id here."},
        {"id": 7, "text": "Numeric id."},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n"
    document = parse_document(text, source="faq.jsonl", format="jsonl")
    passages = document.passages("kb")
    assert [(p.record_id, p.title, p.text, p.start, p.end) for p in passages] == [
        ("hours", "Hours", "Open 9 to 5.", 2, 14),
        ("2", "faq", "No id here.", 0, 11),
        ("7", "faq", "Numeric id.", 0, 11),
    ]
    assert passages[0].doc == "faq.jsonl#hours"
    assert document.warnings == ()


def test_ingest_jsonl_malformed_line_is_skipped_with_its_line_number() -> None:
    text = (
        '{"id": "a", "text": "good"}\n{not json\n{"id": "b"}\n'
        '{"id": "a", "text": "dup"}\n{"id": "c", "text": "ok"}\n'
    )
    document = parse_document(text, source="kb.jsonl", format="jsonl")
    assert [p.text for p in document.passages("kb")] == ["good", "ok"]
    assert any(w.startswith("kb.jsonl:2: not valid JSON") for w in document.warnings)
    assert any(w.startswith("kb.jsonl:3: expected an object") for w in document.warnings)
    assert any("duplicate record id 'a'" in w for w in document.warnings)


def test_ingest_jsonl_long_record_is_split_with_offsets_into_record() -> None:
    record_text = "\n\n".join(f"Paragraph {i}. " + "word " * 30 for i in range(6))
    text = json.dumps({"id": "big", "text": record_text}) + "\n"
    passages = parse_document(text, source="big.jsonl", format="jsonl", max_chars=200).passages("kb")
    assert len(passages) == 6
    assert all(p.record_id == "big" for p in passages)
    _assert_offsets(record_text, passages)


def test_ingest_csv_detects_answer_as_text_and_question_as_title() -> None:
    text = "id,question,answer\nq1,When do you open?,We open at 10 AM.\nq2,Do you ship abroad?,No.\n"
    passages = parse_document(text, source="faq.csv", format="csv").passages("kb")
    assert [(p.record_id, p.title, p.text) for p in passages] == [
        ("q1", "When do you open?", "We open at 10 AM."),
        ("q2", "Do you ship abroad?", "No."),
    ]


def test_ingest_csv_without_known_names_uses_longest_column_and_row_numbers() -> None:
    text = (
        "sku;blurb;stock\n"
        "A1;A long description of the first product;3\n"
        "B2;Another long product description;0\n"
    )
    passages = parse_document(text, source="items.csv", format="csv").passages("kb")
    assert [(p.record_id, p.text) for p in passages] == [
        ("2", "A long description of the first product"),
        ("3", "Another long product description"),
    ]


def test_ingest_csv_explicit_text_column_and_tsv() -> None:
    text = "name\tnotes\nwidget\tsmall\n"
    passages = parse_document(text, source="t.tsv", format="csv", text_column="notes").passages("kb")
    assert [(p.title, p.text) for p in passages] == [("widget", "small")]
    with pytest.raises(KnowledgeBaseError, match="no column 'missing'; columns are name, notes"):
        parse_document(text, source="t.tsv", format="csv", text_column="missing")


def test_detect_csv_columns_prefers_conventional_names() -> None:
    header = ["ID", "Title", "Content", "extra"]
    rows = [{"ID": "1", "Title": "t", "Content": "c", "extra": "much longer text than content"}]
    assert detect_csv_columns(header, rows) == ("Content", "Title", "ID")


def test_ingest_binary_and_non_utf8_files_are_skipped_naming_them(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text("# Hi\n\nHello there.\n", encoding="utf-8")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 ouvert".encode("latin-1"))
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden.md").write_text("ignored", encoding="utf-8")
    result = collect_documents([tmp_path])
    assert [d.source for d in result.documents] == ["good.md"]
    reasons = {s.path.name: s.reason for s in result.skipped}
    assert reasons["image.txt"].startswith("binary file")
    assert reasons["latin1.txt"] == "not UTF-8 text (invalid byte at offset 3)"
    assert reasons["photo.png"] == "unsupported file type '.png'"
    assert ".hidden.md" not in reasons
    assert str(result.skipped[0]).startswith(f"skipped {tmp_path}")


def test_read_document_non_utf8_raises_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_bytes(b"\xff\xfe\xfa")
    with pytest.raises(KnowledgeBaseError, match=r"bad\.md: not UTF-8 text"):
        read_document(path)


def test_collect_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="no such file or directory"):
        collect_documents([tmp_path / "nope"])


def test_collect_directory_sources_are_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "returns.md").write_text("Returns within 30 days.", encoding="utf-8")
    (tmp_path / "notes").write_text("Named file of unknown type is read as text.", encoding="utf-8")
    from_dir = collect_documents([tmp_path / "policies"])
    assert [d.source for d in from_dir.documents] == ["returns.md"]
    nested = collect_documents([tmp_path])
    assert [d.source for d in nested.documents] == ["policies/returns.md"]
    assert nested.skipped[0].path.name == "notes"  # no suffix: skipped inside a directory...
    named = collect_documents([tmp_path / "notes"])
    assert [d.format for d in named.documents] == ["text"]  # ...but read as text when named


def test_passage_ids_are_stable_and_change_only_where_content_changes() -> None:
    text = "First paragraph.\n\nSecond paragraph."
    first = parse_document(text, source="a.txt", format="text").passages("kb")
    again = parse_document(text, source="a.txt", format="text").passages("kb")
    assert [p.passage_id for p in first] == [p.passage_id for p in again]
    other_kb = parse_document(text, source="a.txt", format="text").passages("other")
    assert not {p.passage_id for p in first} & {p.passage_id for p in other_kb}
    edited = parse_document(text.replace("Second", "2nd"), source="a.txt", format="text").passages("kb")
    assert edited[0].passage_id == first[0].passage_id
    assert edited[1].passage_id != first[1].passage_id


def test_content_hash_covers_text_and_splitting_recipe() -> None:
    base = parse_document("Hello.", source="a.txt", format="text")
    assert parse_document("Hello.", source="a.txt", format="text").content_hash == base.content_hash
    assert parse_document("Hello!", source="a.txt", format="text").content_hash != base.content_hash
    assert (
        parse_document("Hello.", source="a.txt", format="text", max_chars=100).content_hash
        != base.content_hash
    )


def test_ingest_empty_document_has_no_passages_and_a_warning() -> None:
    document = parse_document("\n\n   \n", source="empty.md", format="markdown")
    assert document.drafts == ()
    assert document.warnings == ("empty.md: no text to index",)


def test_ingest_markdown_table_rows_are_separate_passages_titled_with_header() -> None:
    text = (
        "# Hours\n\n| Day | Hours |\n|-----|:-----:|\n| Mon | 9-5 |\n| Sun | Closed |\n\nAfter the table.\n"
    )
    passages = parse_document(text, source="hours.md", format="markdown").passages("kb")
    _assert_offsets(text, passages)
    assert [(p.title, p.text) for p in passages] == [
        ("Hours (Day | Hours)", "| Mon | 9-5 |"),
        ("Hours (Day | Hours)", "| Sun | Closed |"),
        ("Hours", "After the table."),
    ]


def test_ingest_markdown_pipe_lines_without_separator_are_a_paragraph() -> None:
    text = "| not | a table |\n| just | pipes |\n| three | lines |\n"
    passages = parse_document(text, source="pipes.md", format="markdown").passages("kb")
    assert [p.text for p in passages] == [text.strip()]
