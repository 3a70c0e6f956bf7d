"""`llmmon factcheck` and `llmmon check` through the real CLI: exit codes, output lines, stored rows."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlmodel import Session
from typer.testing import CliRunner

from llmmon.cli import app
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from llmmon.storage.models import AnswerCheck, ClaimCheck, Span
from tests.checks.conftest import SUPPORT_KB

runner = CliRunner()


def _write_cases(path: Path, cases: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    return path


def test_factcheck_directory_kb_writes_one_result_per_line(tmp_path: Path) -> None:
    cases = _write_cases(
        tmp_path / "cases.jsonl",
        [
            {"id": 1, "question": "Saturday hours?", "answer": "On Saturday the store opens at 11 AM."},
            {
                "id": "b",
                "answer": "The Lumen Watch S2 costs $299.",
                "context": ["Gift wrapping is $5 per item."],
            },
            {"id": 3, "answer": "Hi! How can I help?"},
        ],
    )
    out = tmp_path / "results.jsonl"
    result = runner.invoke(app, ["factcheck", "--kb", str(SUPPORT_KB), "--input", str(cases), "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == [1, "b", 3]
    assert [line["verdict"] for line in lines] == ["supported", "hallucinated", "unverifiable"]
    assert [line["hallucinated"] for line in lines] == [False, True, False]
    claim = lines[1]["claims"][0]
    assert set(claim) == {"text", "start", "end", "verdict", "tier", "evidence", "reason"}
    assert claim["verdict"] == "contradicted" and claim["tier"] == "deterministic"
    evidence = claim["evidence"][0]
    assert set(evidence) == {"passage_id", "doc", "start", "end", "text"}
    document = (SUPPORT_KB / evidence["doc"]).read_text(encoding="utf-8")
    assert document[evidence["start"] : evidence["end"]] == evidence["text"]
    assert lines[1]["failure_kind"] == "retrieval_miss"
    assert 0.0 <= lines[0]["score"] <= 1.0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('["a list"]', "line 2: expected a JSON object"),
        ('{"answer": "x"}', "line 2: missing field 'id'"),
        ('{"id": 2, "answer": 5}', "line 2: field 'answer' must be a string"),
        ('{"id": 2, "answer": "x", "context": 5}', "line 2: field 'context'"),
    ],
)
def test_factcheck_malformed_line_exits_2_naming_the_line(tmp_path: Path, line: str, message: str) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"id": 1, "answer": "The store opens at 10 AM."}\n' + line + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["factcheck", "--kb", str(SUPPORT_KB), "--input", str(cases), "--output", str(out)])
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists()


def test_factcheck_unknown_kb_name_exits_2(tmp_path: Path) -> None:
    cases = _write_cases(tmp_path / "c.jsonl", [{"id": 1, "answer": "x"}])
    db = tmp_path / "llmmon.db"
    upgrade_database(engine := make_engine(f"sqlite:///{db}"))
    engine.dispose()
    result = runner.invoke(
        app,
        [
            "factcheck",
            "--kb",
            "nope",
            "--input",
            str(cases),
            "--output",
            str(tmp_path / "o"),
            "--db",
            str(db),
        ],
    )
    assert result.exit_code == 2
    assert "nope" in result.output


def test_factcheck_empty_kb_directory_warns_and_reports_unverifiable(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    cases = _write_cases(tmp_path / "c.jsonl", [{"id": 1, "answer": "The store opens at 10 AM."}])
    out = tmp_path / "o.jsonl"
    result = runner.invoke(app, ["factcheck", "--kb", str(kb), "--input", str(cases), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "empty" in result.output
    (line,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert line["verdict"] == "unverifiable"


def test_factcheck_judge_without_model_fails_clearly(tmp_path: Path) -> None:
    cases = _write_cases(tmp_path / "c.jsonl", [{"id": 1, "answer": "The store opens at 10 AM."}])
    result = runner.invoke(
        app,
        [
            "factcheck",
            "--kb",
            str(SUPPORT_KB),
            "--input",
            str(cases),
            "--output",
            str(tmp_path / "o"),
            "--judge",
        ],
        env={"LLMMON_JUDGE_MODEL": ""},
    )
    assert result.exit_code == 2
    assert "--llm-model" in result.output


def _store_trace(db: Path, *, answer: str, retrieved: list[str]) -> str:
    engine = make_engine(f"sqlite:///{db}")
    upgrade_database(engine)
    trace_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    base = {column.name: None for column in Span.__table__.c}  # type: ignore[attr-defined]
    common = {
        "trace_id": trace_id,
        "start_time": now,
        "end_time": now + timedelta(milliseconds=5),
        "latency_ms": 5.0,
        "status": "ok",
        "io_truncated": False,
        "tokens_estimated": False,
        "is_eval": False,
    }
    root = (
        base
        | common
        | {
            "span_id": "r" + trace_id[:15],
            "name": "answer",
            "kind": "function",
            "input": json.dumps({"question": "How much is the Lumen Watch S2?"}),
            "output": json.dumps(answer),
        }
    )
    child = (
        base
        | common
        | {
            "span_id": "c" + trace_id[:15],
            "parent_span_id": root["span_id"],
            "name": "search",
            "kind": "retriever",
            "output": json.dumps([{"text": t} for t in retrieved]),
        }
    )
    with engine.begin() as connection:
        connection.execute(insert(Span.__table__), [root, child])  # type: ignore[attr-defined]
    engine.dispose()
    return trace_id


def test_check_trace_prints_claims_and_stores_rows(tmp_path: Path) -> None:
    db = tmp_path / "llmmon.db"
    trace_id = _store_trace(
        db,
        answer="Hi! The Lumen Watch S2 costs $299. It has a one-year warranty.",
        retrieved=["- **Lumen Watch S2 smartwatch**: $249 (329,000원)."],
    )
    result = runner.invoke(app, ["check", trace_id[:8], "--kb", str(SUPPORT_KB), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "hallucinated" in result.output and "grounding_failure" in result.output
    assert "$249" in result.output
    engine = make_engine(f"sqlite:///{db}")
    try:
        with Session(engine) as session:
            (answer,) = session.exec(select(AnswerCheck)).scalars().all()  # type: ignore[call-overload]
            claims = session.exec(select(ClaimCheck)).scalars().all()  # type: ignore[call-overload]
    finally:
        engine.dispose()
    assert (answer.trace_id, answer.verdict, answer.failure_kind) == (
        trace_id,
        "hallucinated",
        "grounding_failure",
    )
    assert answer.kb_version
    assert [c.verdict for c in claims] == ["contradicted", "supported"]
    assert json.loads(claims[0].evidence)[0]["text"].startswith("**Lumen Watch S2")


def test_check_unknown_trace_exits_2(tmp_path: Path) -> None:
    db = tmp_path / "llmmon.db"
    _store_trace(db, answer="x", retrieved=[])
    result = runner.invoke(app, ["check", "deadbeef0000", "--kb", str(SUPPORT_KB), "--db", str(db)])
    assert result.exit_code == 2
    assert "deadbeef0000" in result.output


def test_factcheck_kb_scope_open_counts_only_contradictions(tmp_path: Path) -> None:
    cases = _write_cases(
        tmp_path / "cases.jsonl",
        [
            {"id": "unbacked", "answer": "The Lumen Drone Z9 costs $1,299."},
            {"id": "wrong", "answer": "The Lumen Watch S2 costs $299."},
        ],
    )
    verdicts = {}
    for scope in ("closed", "open"):
        out = tmp_path / f"{scope}.jsonl"
        args = ["factcheck", "--kb", str(SUPPORT_KB), "--input", str(cases), "--output", str(out), "--kb-scope", scope]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        verdicts[scope] = {line["id"]: line["verdict"] for line in map(json.loads, out.read_text().splitlines())}
    assert verdicts["closed"] == {"unbacked": "hallucinated", "wrong": "hallucinated"}
    assert verdicts["open"] == {"unbacked": "unverifiable", "wrong": "hallucinated"}


def test_factcheck_bad_kb_scope_exits_2(tmp_path: Path) -> None:
    cases = _write_cases(tmp_path / "cases.jsonl", [{"id": 1, "answer": "The store opens at 10 AM."}])
    out = tmp_path / "out.jsonl"
    args = ["factcheck", "--kb", str(SUPPORT_KB), "--input", str(cases), "--output", str(out), "--kb-scope", "wide"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "--kb-scope must be 'closed' or 'open'" in result.output
