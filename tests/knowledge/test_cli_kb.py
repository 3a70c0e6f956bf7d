"""`llmmon kb add|list|show|search` through the real CLI against a SQLite file, checking the rows written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from llmmon.cli import app
from llmmon.storage.engine import make_engine
from llmmon.storage.models.knowledge import KbDocument, KbPassage, KnowledgeBase

DEMO_KB = Path(__file__).parents[2] / "examples" / "support_bot" / "kb"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "llmmon.db"


def _unwrapped(text: str) -> str:
    """Undo rich's line wrapping of error messages (the CLI's own warnings are not wrapped)."""
    return " ".join(text.split())


def _rows(db_file: Path) -> tuple[list[str], int, int]:
    engine = make_engine(f"sqlite:///{db_file}")
    try:
        with engine.connect() as connection:
            names = list(connection.execute(select(KnowledgeBase.name)).scalars())
            documents = connection.execute(select(func.count()).select_from(KbDocument)).scalar_one()
            passages = connection.execute(select(func.count()).select_from(KbPassage)).scalar_one()
    finally:
        engine.dispose()
    return names, documents, passages


def test_kb_add_writes_rows_and_readd_is_a_no_op(runner: CliRunner, db_file: Path) -> None:
    result = runner.invoke(app, ["kb", "add", str(DEMO_KB), "--kb", "support", "--db", str(db_file)])
    assert result.exit_code == 0, result.output
    assert "added" in result.stdout and "passages written" in result.stdout
    names, documents, passages = _rows(db_file)
    assert names == ["support"]
    assert documents == len(list(DEMO_KB.glob("*.md"))) and passages > documents

    again = runner.invoke(app, ["kb", "add", str(DEMO_KB), "--kb", "support", "--db", str(db_file), "--json"])
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["changed"] is False and report["added"] == [] and report["passages_written"] == 0
    assert len(report["unchanged"]) == documents
    assert _rows(db_file) == (names, documents, passages)


def test_kb_add_skips_binary_file_with_a_message_naming_it(
    runner: CliRunner, db_file: Path, tmp_path: Path
) -> None:
    kb_dir = Path(shutil.copytree(DEMO_KB, tmp_path / "kb"))
    (kb_dir / "scan.txt").write_bytes(b"%PDF-1.4\x00\x01\x02")
    result = runner.invoke(app, ["kb", "add", str(kb_dir), "--kb", "support", "--db", str(db_file), "--json"])
    assert result.exit_code == 0, result.output
    assert "scan.txt: binary file" in result.stderr
    report = json.loads(result.stdout)
    assert [s["path"].endswith("scan.txt") for s in report["skipped"]] == [True]
    assert "scan.txt" not in report["added"]


def test_kb_add_missing_path_is_bad_input(runner: CliRunner, db_file: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["kb", "add", str(tmp_path / "nope"), "--kb", "x", "--db", str(db_file)])
    assert result.exit_code == 2
    assert "nope: no such file or directory" in _unwrapped(result.stderr)


def test_kb_list_and_show(runner: CliRunner, db_file: Path) -> None:
    runner.invoke(app, ["kb", "add", str(DEMO_KB), "--kb", "support", "--db", str(db_file)])
    listed = runner.invoke(app, ["kb", "list", "--db", str(db_file), "--json"])
    assert listed.exit_code == 0, listed.output
    [summary] = json.loads(listed.stdout)
    _, documents, passages = _rows(db_file)
    assert (summary["name"], summary["documents"], summary["passages"]) == ("support", documents, passages)

    shown = runner.invoke(app, ["kb", "show", "support", "--db", str(db_file), "--json"])
    assert shown.exit_code == 0, shown.output
    details = json.loads(shown.stdout)
    assert details["version_hash"] == summary["version_hash"] and details["passages"] == passages
    assert {d["source"] for d in details["documents"]} == {p.name for p in DEMO_KB.glob("*.md")}

    table = runner.invoke(app, ["kb", "show", "support", "--db", str(db_file)])
    assert (
        table.exit_code == 0
        and "store-hours.ko.md" in table.stdout
        and summary["version_hash"] in table.stdout
    )


def test_kb_show_unknown_is_bad_input(runner: CliRunner, db_file: Path) -> None:
    runner.invoke(app, ["kb", "add", str(DEMO_KB), "--kb", "support", "--db", str(db_file)])
    result = runner.invoke(app, ["kb", "show", "nope", "--db", str(db_file)])
    assert result.exit_code == 2
    assert "no knowledge base named 'nope'; known: support" in _unwrapped(result.stderr)


def test_kb_search_korean_query_from_stored_kb(runner: CliRunner, db_file: Path) -> None:
    runner.invoke(app, ["kb", "add", str(DEMO_KB), "--kb", "support", "--db", str(db_file)])
    result = runner.invoke(
        app,
        [
            "kb",
            "search",
            "토요일에는 몇 시에 문을 여나요?",
            "--kb",
            "support",
            "-k",
            "2",
            "--db",
            str(db_file),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert len(hits) == 2
    assert hits[0]["doc"] == "store-hours.ko.md" and "토요일" in hits[0]["text"]
    document = (DEMO_KB / hits[0]["doc"]).read_text(encoding="utf-8")
    assert document[hits[0]["start"] : hits[0]["end"]] == hits[0]["text"]


def test_kb_search_directory_needs_no_database(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["kb", "search", "AirBeat Pro price", "--kb", str(DEMO_KB)])
    assert result.exit_code == 0, result.output
    assert "AirBeat Pro" in result.stdout and "products.md" in result.stdout


def test_kb_search_empty_kb_warns(runner: CliRunner, db_file: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    added = runner.invoke(app, ["kb", "add", str(empty), "--kb", "empty", "--db", str(db_file)])
    assert added.exit_code == 0 and "'empty' is empty" in added.stderr
    result = runner.invoke(app, ["kb", "search", "anything", "--kb", "empty", "--db", str(db_file)])
    assert result.exit_code == 0
    assert "will be unverifiable" in result.stderr and "No passage" in result.stdout
