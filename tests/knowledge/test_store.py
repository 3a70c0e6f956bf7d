"""Storage of knowledge bases on SQLite and PostgreSQL: no-op re-ingest, replacement, versions, cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from llmmon.errors import KnowledgeBaseError
from llmmon.knowledge.index import IndexCache, load_index
from llmmon.knowledge.ingest import collect_documents
from llmmon.knowledge.store import (
    delete_knowledge_base,
    describe_knowledge_base,
    ingest_paths,
    kb_version,
    list_knowledge_bases,
    load_passages,
)
from llmmon.storage.models.knowledge import KbDocument, KbPassage

DEMO_KB = Path(__file__).parents[2] / "examples" / "support_bot" / "kb"


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """A writable copy of the demo knowledge base."""
    return Path(shutil.copytree(DEMO_KB, tmp_path / "kb"))


def _passage_ids(engine: Engine, kb_name: str) -> dict[str, set[str]]:
    _, passages = load_passages(engine, kb_name)
    by_source: dict[str, set[str]] = {}
    for passage in passages:
        by_source.setdefault(passage.source, set()).add(passage.passage_id)
    return by_source


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(model)).scalar_one())


def test_ingest_stores_documents_and_passages_as_parsed(engine: Engine, kb_dir: Path) -> None:
    report = ingest_paths(engine, "support", [kb_dir])
    parsed = collect_documents([kb_dir]).documents
    assert sorted(report.added) == sorted(d.source for d in parsed)
    assert report.updated == report.unchanged == report.skipped == []
    expected = [p for d in sorted(parsed, key=lambda d: d.source) for p in d.passages("support")]
    version, stored = load_passages(engine, "support")
    assert stored == expected
    assert version == report.version_hash == kb_version(engine, "support")
    assert report.passages_written == len(expected) == _count(engine, KbPassage)


def test_reingest_unchanged_is_a_no_op(engine: Engine, kb_dir: Path) -> None:
    first = ingest_paths(engine, "support", [kb_dir])
    before = describe_knowledge_base(engine, "support")
    ids_before = _passage_ids(engine, "support")
    again = ingest_paths(engine, "support", [kb_dir])
    assert again.added == again.updated == []
    assert sorted(again.unchanged) == sorted(first.added)
    assert again.passages_written == 0 and not again.changed
    after = describe_knowledge_base(engine, "support")
    assert after.version_hash == before.version_hash
    assert after.updated_at == before.updated_at
    assert _passage_ids(engine, "support") == ids_before


def test_changed_file_replaces_only_its_passages_and_moves_the_version(engine: Engine, kb_dir: Path) -> None:
    first = ingest_paths(engine, "support", [kb_dir])
    ids_before = _passage_ids(engine, "support")
    hours = kb_dir / "store-hours.md"
    original = hours.read_text(encoding="utf-8")
    hours.write_text(original + "\n## Pets\n\nDogs on a lead are welcome in the store.\n", encoding="utf-8")

    changed = ingest_paths(engine, "support", [kb_dir])
    assert changed.updated == ["store-hours.md"] and changed.added == []
    assert changed.changed and changed.version_hash != first.version_hash
    ids_after = _passage_ids(engine, "support")
    assert {s for s in ids_after if ids_after[s] != ids_before[s]} == {"store-hours.md"}
    assert ids_after["store-hours.md"] > ids_before["store-hours.md"]  # old passages kept their ids
    # Old rows are gone and none are duplicated.
    assert _count(engine, KbPassage) == sum(len(v) for v in ids_after.values())
    index = load_index(engine, "support", cache=IndexCache())
    assert index.search("are dogs welcome", k=1)[0].text == "Dogs on a lead are welcome in the store."

    hours.write_text(original, encoding="utf-8")
    reverted = ingest_paths(engine, "support", [kb_dir])
    assert reverted.version_hash == first.version_hash  # the version is a function of the content
    assert _passage_ids(engine, "support") == ids_before


def test_prune_removes_documents_no_longer_present(engine: Engine, kb_dir: Path) -> None:
    ingest_paths(engine, "support", [kb_dir])
    (kb_dir / "warranty.md").unlink()
    kept = ingest_paths(engine, "support", [kb_dir])
    assert kept.removed == [] and "warranty.md" in _passage_ids(engine, "support")
    pruned = ingest_paths(engine, "support", [kb_dir], prune=True)
    assert pruned.removed == ["warranty.md"] and pruned.changed
    assert "warranty.md" not in _passage_ids(engine, "support")


def test_binary_and_non_utf8_documents_are_skipped_not_fatal(engine: Engine, kb_dir: Path) -> None:
    (kb_dir / "logo.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (kb_dir / "legacy.txt").write_bytes("\xc7\xd1\xb1\xb9".encode("latin-1"))  # EUC-KR "한국"
    report = ingest_paths(engine, "support", [kb_dir])
    assert {s.path.name for s in report.skipped} == {"logo.md", "legacy.txt"}
    assert "logo.md" not in report.added and "store-hours.md" in report.added
    stored = {d.source for d in describe_knowledge_base(engine, "support").documents}
    assert "logo.md" not in stored and "legacy.txt" not in stored


def test_empty_kb_is_created_with_a_warning_and_loads_empty(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "only.bin.txt").write_bytes(b"\x00\x00")
    report = ingest_paths(engine, "empty", [tmp_path])
    assert any("is empty" in w for w in report.warnings)
    index = load_index(engine, "empty", cache=IndexCache())
    assert index.is_empty and index.search("anything") == []
    assert any("unverifiable" in w for w in index.warnings)


def test_list_and_show_report_counts(engine: Engine, kb_dir: Path) -> None:
    ingest_paths(engine, "support", [kb_dir])
    ingest_paths(engine, "korean-only", sorted(kb_dir.glob("*.ko.md")))
    summaries = {s.name: s for s in list_knowledge_bases(engine)}
    assert set(summaries) == {"korean-only", "support"}
    details = describe_knowledge_base(engine, "support")
    assert summaries["support"].documents == len(details.documents)
    assert summaries["support"].passages == details.passages == len(load_passages(engine, "support")[1])
    korean = describe_knowledge_base(engine, "korean-only")
    assert all(d.source.endswith(".ko.md") and d.passages > 0 for d in korean.documents)
    hours = next(d for d in details.documents if d.source == "store-hours.md")
    assert hours.title == "Store hours and locations" and hours.format == "markdown"
    assert hours.chars == len((kb_dir / "store-hours.md").read_text(encoding="utf-8"))


def test_same_documents_in_two_kbs_do_not_collide(engine: Engine, kb_dir: Path) -> None:
    ingest_paths(engine, "a", [kb_dir])
    ingest_paths(engine, "b", [kb_dir])
    ids_a = set().union(*_passage_ids(engine, "a").values())
    ids_b = set().union(*_passage_ids(engine, "b").values())
    assert ids_a and not ids_a & ids_b


def test_unknown_kb_raises_naming_known_ones(engine: Engine, kb_dir: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="none exist yet"):
        load_index(engine, "missing", cache=IndexCache())
    ingest_paths(engine, "support", [kb_dir])
    with pytest.raises(KnowledgeBaseError, match="no knowledge base named 'missing'; known: support"):
        kb_version(engine, "missing")


def test_blank_kb_name_is_rejected(engine: Engine, kb_dir: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="non-empty name"):
        ingest_paths(engine, "  ", [kb_dir])


def test_load_index_is_cached_per_version_hash(engine: Engine, kb_dir: Path) -> None:
    ingest_paths(engine, "support", [kb_dir])
    cache = IndexCache(max_entries=2)
    first = load_index(engine, "support", cache=cache)
    assert load_index(engine, "support", cache=cache) is first
    (kb_dir / "extra.md").write_text("# Extra\n\nGift cards never expire.\n", encoding="utf-8")
    ingest_paths(engine, "support", [kb_dir])
    second = load_index(engine, "support", cache=cache)
    assert second is not first and second.version_hash != first.version_hash
    assert second.search("gift cards expire", k=1)[0].doc == "extra.md"
    assert first.search("gift cards expire", k=1)[0].doc != "extra.md"  # a built index never changes


def test_delete_kb_removes_everything(engine: Engine, kb_dir: Path) -> None:
    ingest_paths(engine, "support", [kb_dir])
    delete_knowledge_base(engine, "support")
    assert list_knowledge_bases(engine) == []
    assert _count(engine, KbPassage) == _count(engine, KbDocument) == 0
