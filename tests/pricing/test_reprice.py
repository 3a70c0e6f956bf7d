"""Re-costing stored spans from their raw usage, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from llmmon.pricing import PriceTable, RepriceResult, reprice_spans
from llmmon.storage.models import Span

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _row(
    span_id: str, model: str | None, *, days: int = 0, cost: float | None = 99.0, **tokens: Any
) -> dict[str, Any]:
    start = T0 + timedelta(days=days)
    return {
        "span_id": span_id,
        "trace_id": "t" + span_id,
        "name": "llm",
        "kind": "llm",
        "start_time": start,
        "end_time": start + timedelta(seconds=1),
        "latency_ms": 1000.0,
        "model": model,
        "cost_usd": cost,
        "input_tokens": tokens.get("input_tokens"),
        "output_tokens": tokens.get("output_tokens"),
        "cached_tokens": tokens.get("cached_tokens"),
    }


def _costs(engine: Engine) -> dict[str, float | None]:
    span = Span.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return {
            row.span_id: row.cost_usd for row in connection.execute(select(span.c.span_id, span.c.cost_usd))
        }


def test_reprice_recosts_history_in_batches(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    rows = [
        _row(f"s{i:03d}", "gpt-4o-mini-2024-07-18", input_tokens=1000, output_tokens=100, cached_tokens=400)
        for i in range(25)
    ]
    rows.append(_row("unknown1", "acme-private", input_tokens=10, output_tokens=10))
    rows.append(_row("nousage", "gpt-4o-mini", cost=None))
    rows.append(_row("nomodel", None, input_tokens=5, output_tokens=5, cost=1.0))
    with engine.begin() as connection:
        connection.execute(insert(Span.__table__), rows)  # type: ignore[attr-defined]

    table = PriceTable.load()
    with caplog.at_level(logging.WARNING, logger="llmmon"):
        result = reprice_spans(engine, table, batch_size=4)

    expected = (600 * 0.15 + 400 * 0.075 + 100 * 0.60) / 1e6
    costs = _costs(engine)
    assert all(costs[f"s{i:03d}"] == pytest.approx(expected) for i in range(25))
    assert costs["unknown1"] is None  # no price -> null, not the old number
    assert costs["nousage"] is None
    assert costs["nomodel"] == 1.0  # spans without a model are not touched
    assert result == RepriceResult(updated=26, unknown_models=["acme-private"], scanned=26)

    # Idempotent: a second run finds nothing to change.
    assert reprice_spans(engine, table, batch_size=4).updated == 0


def test_reprice_filters_by_time_and_model(engine: Engine) -> None:
    rows = [
        _row("old", "gpt-4o-mini", days=-10, input_tokens=1_000_000, output_tokens=0),
        _row("new", "gpt-4o-mini", days=0, input_tokens=1_000_000, output_tokens=0),
        _row("other", "gpt-4.1", days=0, input_tokens=1_000_000, output_tokens=0),
    ]
    with engine.begin() as connection:
        connection.execute(insert(Span.__table__), rows)  # type: ignore[attr-defined]
    result = reprice_spans(engine, PriceTable.load(), since=T0 - timedelta(days=1), model="gpt-4o-mini")
    assert (result.updated, result.scanned) == (1, 1)
    costs = _costs(engine)
    assert costs == {"old": 99.0, "new": pytest.approx(0.15), "other": 99.0}


def test_reprice_uses_price_in_force_at_span_start(engine: Engine) -> None:
    rows = [
        _row("before", "gpt-4o", input_tokens=1_000_000, output_tokens=0, days=-300),  # 2024-05: 5.00
        _row("after", "gpt-4o", input_tokens=1_000_000, output_tokens=0),  # 2025-03: 2.50
    ]
    with engine.begin() as connection:
        connection.execute(insert(Span.__table__), rows)  # type: ignore[attr-defined]
    reprice_spans(engine, PriceTable.load())
    assert _costs(engine) == {"before": pytest.approx(5.0), "after": pytest.approx(2.5)}
