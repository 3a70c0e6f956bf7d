"""The database recorder end to end, on a SQLite file and on PostgreSQL: what gets stored."""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmmon
from llmmon.tracing.context import finish_span, new_span
from tests.tracing.conftest import configure_database, flush_until_stored, span_rows


class Opaque:
    """Not JSON-serialisable; stored as its repr."""

    def __repr__(self) -> str:
        return "<Opaque thing>"


def test_stored_row_has_serialised_redacted_io(traced_db: str) -> None:
    @llmmon.trace(name="answer", user_id="u1", session_id="s1", tags=["t"], metadata={"contact": "a@b.com"})
    def answer(question: str, thing: Opaque, *, card: str) -> dict[str, object]:
        return {"text": "call 010-1234-5678", "thing": thing}

    answer("my mail is kim@example.com", Opaque(), card="4111 1111 1111 1111")
    result = llmmon.flush(10)
    assert (result.written, result.pending, result.dropped) == (1, 0, 0)
    (row,) = span_rows(traced_db)
    assert json.loads(row["input"]) == {
        "question": "my mail is [EMAIL]",
        "thing": "<Opaque thing>",
        "card": "[CARD]",
    }
    assert json.loads(row["output"]) == {"text": "call [PHONE]", "thing": "<Opaque thing>"}
    assert json.loads(row["attributes"]) == {"contact": "[EMAIL]"}
    assert json.loads(row["tags"]) == ["t"]
    assert (row["user_id"], row["session_id"], row["status"], row["io_truncated"]) == (
        "u1",
        "s1",
        "ok",
        False,
    )
    assert row["latency_ms"] >= 0 and row["end_time"] >= row["start_time"]


def test_ten_megabyte_output_is_truncated_and_flagged(traced_db: str) -> None:
    @llmmon.trace(name="big")
    def big() -> str:
        return "x" * 10_000_000

    assert len(big()) == 10_000_000
    assert llmmon.flush(30).written == 1
    (row,) = span_rows(traced_db)
    assert row["io_truncated"] is True or row["io_truncated"] == 1
    assert len(row["output"].encode()) <= 65_536
    payload = json.loads(row["output"])
    assert payload["truncated"] is True and payload["original_bytes"] == 10_000_002
    assert payload["preview"].startswith('"xxxx')


def test_exception_is_stored_and_reraised_unchanged(traced_db: str) -> None:
    error = RuntimeError("upstream said no to kim@example.com")

    @llmmon.trace(name="fails")
    def fails() -> None:
        raise error

    with pytest.raises(RuntimeError) as caught:
        fails()
    assert caught.value is error
    llmmon.flush(10)
    (row,) = span_rows(traced_db)
    assert (row["status"], row["error_type"], row["error_message"]) == (
        "error",
        "RuntimeError",
        "upstream said no to [EMAIL]",
    )


def test_abandoned_generator_is_stored_as_cancelled(traced_db: str) -> None:
    @llmmon.trace(name="stream")
    def stream() -> Iterator[str]:
        yield from ("a", "b", "c", "d")

    chunks = stream()
    assert next(chunks) == "a"
    assert next(chunks) == "b"
    chunks.close()
    llmmon.flush(10)
    (row,) = span_rows(traced_db)
    assert (row["status"], json.loads(row["output"])) == ("cancelled", "ab")
    assert row["ttft_ms"] is not None


def test_threads_and_asyncio_tasks_store_every_span_with_parents(traced_db: str) -> None:
    @llmmon.trace(name="leaf")
    def leaf(i: int) -> int:
        return i

    @llmmon.trace(name="thread-root")
    def thread_root(n: int) -> None:
        for i in range(n):
            leaf(i)

    @llmmon.trace(name="task")
    async def task(i: int) -> int:
        await asyncio.sleep(0)
        return leaf(i)

    @llmmon.trace(name="async-root")
    async def async_root() -> list[int]:
        return list(await asyncio.gather(*(task(i) for i in range(500))))

    threads = [threading.Thread(target=thread_root, args=(50,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    # Meanwhile, 500 concurrent tasks on the main thread.
    assert len(asyncio.run(async_root())) == 500
    for thread in threads:
        thread.join()
    # A thread started with a copied context continues the trace.
    with llmmon.span("copied-parent"):
        worker = threading.Thread(target=contextvars.copy_context().run, args=(leaf, -1))
        worker.start()
        worker.join()

    expected = 8 * (1 + 50) + 1 + 500 * 2 + 2
    result = flush_until_stored()
    assert (result.written, result.pending, result.dropped) == (expected, 0, 0)
    rows = span_rows(traced_db)
    assert len(rows) == expected
    by_id = {row["span_id"]: row for row in rows}
    parent_name = {
        row["span_id"]: by_id[row["parent_span_id"]]["name"] for row in rows if row["parent_span_id"]
    }
    names = [row["name"] for row in rows]
    assert names.count("leaf") == 8 * 50 + 500 + 1
    for row in rows:
        if row["name"] == "task":
            assert parent_name[row["span_id"]] == "async-root"
        if row["name"] == "leaf":
            assert parent_name[row["span_id"]] in ("thread-root", "task", "copied-parent")
        if row["parent_span_id"]:
            assert by_id[row["parent_span_id"]]["trace_id"] == row["trace_id"]
    assert sum(1 for row in rows if row["parent_span_id"] is None) == 8 + 1 + 1


def test_sampling_and_disabled_switch_store_accordingly(db_url: str, tmp_path: Path) -> None:
    configure_database(db_url, tmp_path / "spool", sample_rate=0.5)
    try:

        @llmmon.trace(name="root")
        def root() -> None:
            with llmmon.span("child"):
                pass

        for _ in range(200):
            root()
        llmmon.flush(10)
        rows = span_rows(db_url)
        roots = [r for r in rows if r["name"] == "root"]
        assert 50 < len(roots) < 150
        assert len(rows) == 2 * len(roots)
        configure_database(db_url, tmp_path / "spool", enabled=False)
        for _ in range(50):
            root()
        assert llmmon.flush(5).written == 0
        assert len(span_rows(db_url)) == len(rows)
    finally:
        llmmon.shutdown()


def test_stats_reports_counters(traced_db: str) -> None:
    traced = llmmon.trace(name="f")(lambda: None)
    for _ in range(3):
        traced()
    llmmon.flush(10)
    stats = llmmon.stats()
    assert stats["written"] == 3 and stats["dropped"] == 0 and stats["pending"] == 0
    assert stats["database_available"] is True and stats["configured"] is True


def test_llm_span_cost_and_estimated_tokens(traced_db: str) -> None:
    from llmmon.pricing import PriceTable

    with_usage = new_span("chat", kind="llm")
    assert with_usage is not None
    with_usage.model = "gpt-4o-mini"
    with_usage.set_usage(input_tokens=1000, output_tokens=200, total_tokens=1200)
    finish_span(with_usage)
    estimated = new_span("chat-no-usage", kind="llm")
    assert estimated is not None
    estimated.model = "gpt-4o-mini"
    estimated.input = {"messages": [{"role": "user", "content": "How long do refunds take?"}]}
    estimated.output = "Refunds take five to seven business days."
    finish_span(estimated)
    llmmon.flush(20)
    rows = {row["name"]: row for row in span_rows(traced_db)}
    expected = PriceTable.load().cost_usd("gpt-4o-mini", input_tokens=1000, output_tokens=200)
    assert expected is not None
    assert rows["chat"]["cost_usd"] == pytest.approx(expected)
    assert not rows["chat"]["tokens_estimated"]
    guessed = rows["chat-no-usage"]
    assert guessed["tokens_estimated"] and guessed["input_tokens"] > 0 and guessed["output_tokens"] > 0
    assert guessed["cost_usd"] is not None and guessed["cost_usd"] > 0


def test_row_the_database_refuses_is_dropped_alone(traced_db: str) -> None:
    good = llmmon.trace(name="good")(lambda: 1)
    good()
    bad = new_span("bad")
    assert bad is not None
    bad.name = None  # type: ignore[assignment]  # violates NOT NULL: the database refuses this row
    finish_span(bad)
    good()
    result = llmmon.flush(10)
    assert (result.written, result.dropped) == (2, 1)
    assert llmmon.stats()["dropped_by_reason"] == {"rejected": 1}
    assert sorted(row["name"] for row in span_rows(traced_db)) == ["good", "good"]
