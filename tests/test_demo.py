"""`llmmon demo` and the support bot: a real run into a SQLite file, the bot's spans, the responder."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import llmmon
from examples.support_bot import bot as support_bot
from examples.support_bot.kb import KB_DIR
from examples.support_bot.responder import wrong_price
from examples.support_bot.workload import questions, workload
from llmmon.cli import app
from llmmon.storage.engine import make_engine
from llmmon.storage.models import Span
from llmmon.tracing.recorder import InMemoryRecorder

runner = CliRunner()
KB_TEXT = " ".join(path.read_text(encoding="utf-8") for path in KB_DIR.glob("*.md"))
_MONEY = re.compile(r"\$\d[\d,]*(?:\.\d+)?|\d{1,3}(?:,\d{3})+원")


def test_demo_runs_workload_into_sqlite_and_prints_stats(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = runner.invoke(app, ["demo", "--questions", "200", "--db", str(db)])

    assert result.exit_code == 0, result.output
    assert "simulated responder" in result.output
    assert f"Database: {db.resolve()}" in result.output
    assert "Stats by prompt_version" in result.output and "Stats by model" in result.output
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:

            def scalar(query: object) -> int:
                return int(connection.execute(query).scalar_one())  # type: ignore[call-overload]

            roots = scalar(select(func.count()).select_from(Span).where(Span.parent_span_id.is_(None)))  # type: ignore[union-attr]
            assert roots == 200
            kinds = set(connection.execute(select(Span.kind).distinct()).scalars())
            assert {"function", "retriever", "llm", "tool", "span"} <= kinds
            assert (
                scalar(
                    select(func.count())
                    .select_from(Span)
                    .where(Span.status == "error", Span.parent_span_id.is_(None))
                )
                >= 5
            )  # type: ignore[union-attr]
            streamed = (
                select(func.count()).select_from(Span).where(Span.kind == "llm", Span.ttft_ms.is_not(None))
            )  # type: ignore[union-attr]
            assert scalar(streamed) >= 20
            versions = set(connection.execute(select(Span.prompt_version).distinct()).scalars()) - {None}
            assert versions == {"v1", "v2"}
            assert scalar(select(func.count(func.distinct(Span.user_id)))) >= 20
            assert scalar(select(func.count(func.distinct(Span.session_id)))) >= 50
            llm_with_usage = (
                select(func.count()).select_from(Span).where(Span.kind == "llm", Span.output_tokens > 0)
            )
            assert scalar(llm_with_usage) >= 150
    finally:
        engine.dispose()


def test_demo_rejects_bad_options(tmp_path: Path) -> None:
    db = str(tmp_path / "d.db")
    assert runner.invoke(app, ["demo", "--fault", "tokens", "--db", db]).exit_code == 2
    assert runner.invoke(app, ["demo", "--llm-model", "x", "--db", db]).exit_code == 2


def test_workload_has_enough_varied_questions() -> None:
    visits = workload(240, seed=1)
    assert len(visits) == 240 and len(questions()) >= 100
    assert sum(v.stream for v in visits) > 30
    assert any(v.question == "" for v in visits)
    assert any(re.search(r"[\uac00-\ud7a3]", v.question) for v in visits)
    assert workload(240, seed=1) == visits


@pytest.fixture
def bot() -> Iterator[tuple[support_bot.SupportBot, InMemoryRecorder]]:
    memory = InMemoryRecorder()
    llmmon.configure(recorder=memory)
    built, http_client = support_bot.build_bot(latency_scale=0.0, fault=None)
    support_bot.use_bot(built)
    yield built, memory
    support_bot.use_bot(None)
    http_client.close()
    llmmon.shutdown()


def test_bot_answer_records_span_tree_with_prompt_and_usage(
    bot: tuple[support_bot.SupportBot, InMemoryRecorder],
) -> None:
    _, memory = bot
    question = "How much is the AirBeat Pro?"
    assert not _is_http_500(question)
    text = support_bot.answer(question, user_id="user-7", session_id="s-1")

    assert "$129" in text and "169,000원" in text
    [root] = memory.by_name("answer")
    assert (root.user_id, root.session_id, root.status) == ("user-7", "s-1", "ok")
    assert root.prompt_name == "support-answer" and root.prompt_version in ("v1", "v2")
    children = {span.name: span for span in memory.spans if span.parent_span_id == root.span_id}
    assert {"retrieve", "postprocess"} <= children.keys()
    [llm] = [span for span in children.values() if span.kind == "llm"]
    assert llm.model == "gpt-4o-mini" and llm.usage is not None and llm.usage["output_tokens"] > 0


def test_bot_streaming_answer_records_time_to_first_chunk(
    bot: tuple[support_bot.SupportBot, InMemoryRecorder],
) -> None:
    _, memory = bot
    text = "".join(support_bot.answer_stream("제주도도 배송되나요?", user_id="u", session_id="s"))
    assert "제주도" in text and "1~2일" in text
    [root] = memory.by_name("answer_stream")
    assert root.status == "ok" and root.first_chunk_ns is not None


def test_bot_errors_are_raised_and_recorded(bot: tuple[support_bot.SupportBot, InMemoryRecorder]) -> None:
    _, memory = bot
    with pytest.raises(support_bot.OrderLookupError):
        support_bot.answer("Where is my order #58213?")
    with pytest.raises(ValueError, match="empty question"):
        support_bot.answer("   ")
    failing = next(q for q in questions() if _is_http_500(q))
    with pytest.raises(openai.InternalServerError):
        support_bot.answer(failing)
    roots = memory.by_name("answer")
    assert [span.error_type for span in roots] == ["OrderLookupError", "ValueError", "InternalServerError"]
    [tool] = memory.by_name("lookup_order")
    assert tool.status == "error" and tool.kind == "tool"


def _is_http_500(question: str) -> bool:
    from examples.support_bot.responder import _bucket

    return _bucket(question, "500") < 4


def _prices_in_kb(text: str) -> bool:
    return all(amount in KB_TEXT for amount in _MONEY.findall(text))


def test_responder_quotes_kb_prices_and_fault_switch_breaks_some(monkeypatch: pytest.MonkeyPatch) -> None:
    price_questions = [
        q for q in questions() if ("How much" in q or "가격" in q or "cost?" in q) and not _is_http_500(q)
    ]
    honest, _ = support_bot.build_bot(latency_scale=0.0, fault=None)
    monkeypatch.setenv("LLMMON_DEMO_FAULT", "prices")
    faulty, _ = support_bot.build_bot(latency_scale=0.0)  # the fault comes from the environment
    llmmon.configure(recorder=InMemoryRecorder())
    try:
        honest_answers = [honest.answer(q) for q in price_questions]
        faulty_answers = [faulty.answer(q) for q in price_questions]
    finally:
        llmmon.shutdown()
    assert sum(bool(_MONEY.search(a)) for a in honest_answers) >= len(price_questions) * 0.8
    assert all(_prices_in_kb(a) for a in honest_answers)
    wrong = sum(not _prices_in_kb(a) for a in faulty_answers)
    assert 0.15 * len(price_questions) <= wrong <= 0.6 * len(price_questions)


def test_wrong_price_changes_every_amount() -> None:
    assert wrong_price("It costs $699 (949,000원).") == "It costs $594 (807,000원)."
