"""Hourly roll-ups: always equal to a recomputation from the span table (computed here, in plain
Python), through mixed and split batches, replays, purge and the migration's backfill; the
approximate percentiles stay within the documented error; SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, delete, func, insert, select

import llmmon
from llmmon.storage import rollup_stats
from llmmon.storage.engine import make_engine
from llmmon.storage.ingest import insert_span_rows
from llmmon.storage.latency_histogram import BUCKETS, RATIO, RELATIVE_ERROR, bucket_index, percentile
from llmmon.storage.migrate import upgrade_database
from llmmon.storage.models import Span, span_rollup_hour
from llmmon.storage.repo import list_traces, purge
from llmmon.storage.rollups import hour_of, rebuild, stored_rollups

SPAN = Span.__table__  # type: ignore[attr-defined]
BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _row(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {column.name: None for column in SPAN.c}
    row.update(
        span_id=uuid.uuid4().hex[:16], kind="span", status="ok", io_truncated=False, tokens_estimated=False,
        is_eval=False, name="x",
    )  # fmt: skip
    row.update(values)
    row["end_time"] = row["start_time"] + timedelta(milliseconds=row["latency_ms"])
    return row


def _trace(rng: random.Random, *, start: datetime, prompt_on_root: bool, is_eval: bool = False) -> list[dict[str, Any]]:
    """A trace in finishing order: retriever, 1-2 LLM calls (maybe in the next hour), then the root."""
    trace_id = uuid.uuid4().hex
    root_id = uuid.uuid4().hex[:16]
    version = rng.choice(["v1", "v2"])
    prompt = {"prompt_name": "support-answer", "prompt_version": version}
    spans = [_row(trace_id=trace_id, parent_span_id=root_id, kind="retriever", start_time=start, latency_ms=3.0)]
    for i in range(rng.randint(1, 2)):
        spans.append(
            _row(
                trace_id=trace_id, parent_span_id=root_id, kind="llm", name="chat", is_eval=is_eval,
                start_time=start + timedelta(minutes=50 * i), latency_ms=rng.lognormvariate(6, 1),
                status="error" if rng.random() < 0.1 else "ok", model=rng.choice(["gpt-4o-mini", "gpt-4.1"]),
                input_tokens=rng.randint(10, 500), output_tokens=rng.randint(1, 100),
                cost_usd=rng.choice([None, rng.random() / 100]), **({} if prompt_on_root else prompt),
            )
        )  # fmt: skip
    spans.append(
        _row(
            span_id=root_id, trace_id=trace_id, kind="function", name="answer", start_time=start, is_eval=is_eval,
            latency_ms=rng.lognormvariate(6.5, 1), status="error" if rng.random() < 0.05 else "ok",
            user_id=rng.choice(["alice", "bob"]), **(prompt if prompt_on_root else {}),
        )
    )  # fmt: skip
    return spans


def _workload(seed: int = 7, traces: int = 120) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    spans: list[dict[str, Any]] = []
    for i in range(traces):
        start = BASE + timedelta(minutes=rng.uniform(0, 60 * 30))
        spans += _trace(rng, start=start, prompt_on_root=i % 2 == 0, is_eval=i % 17 == 0)
    return spans


def _store(engine: Engine, spans: Sequence[dict[str, Any]], batch: int) -> None:
    for start in range(0, len(spans), batch):
        with engine.begin() as connection:
            insert_span_rows(connection, spans[start : start + batch])


def _expected(engine: Engine) -> dict[tuple[Any, ...], list[float]]:
    """Roll-ups recomputed from the stored spans, independently of llmmon.storage.rollups."""
    with engine.connect() as connection:
        spans = [dict(r) for r in connection.execute(select(SPAN)).mappings()]
    result: dict[tuple[Any, ...], list[float]] = {}

    def add(key: tuple[Any, ...], latency: float, error: bool, tin: int, tout: int, cost: float, costs: int) -> None:
        values = result.setdefault(key, [0.0] * (7 + BUCKETS))
        values[0] += 1
        values[1] += error
        values[2] += latency
        values[3] += tin
        values[4] += tout
        values[5] += cost
        values[6] += costs
        values[7 + bucket_index(latency)] += 1

    def hour(value: datetime) -> str:
        return (value if value.tzinfo is None else value.astimezone(UTC)).strftime("%Y-%m-%d %H")

    for span in spans:
        if span["kind"] == "llm":
            key = (hour(span["start_time"]), "llm", span["model"] or "", span["prompt_name"] or "",
                   span["prompt_version"] or "", span["is_eval"])  # fmt: skip
            add(key, span["latency_ms"], span["status"] == "error", span["input_tokens"] or 0,
                span["output_tokens"] or 0, span["cost_usd"] or 0.0, span["cost_usd"] is not None)  # fmt: skip
        if span["parent_span_id"] is None:  # a trace unit: the root alone, keyed by its own prompt
            key = (hour(span["start_time"]), "trace", "", span["prompt_name"] or "", span["prompt_version"] or "",
                   span["is_eval"])  # fmt: skip
            add(key, span["latency_ms"], span["status"] == "error", 0, 0, 0.0, 0)
    return result


def _assert_rollups_match(engine: Engine) -> None:
    with engine.connect() as connection:
        stored = stored_rollups(connection)
    expected = _expected(engine)
    stored = {k: v for k, v in stored.items() if v[0] or v[3] or v[6]}  # rows emptied by purge may remain
    assert set(stored) == set(expected)
    for key, values in expected.items():
        assert stored[key] == pytest.approx(values), key


@pytest.mark.parametrize("batch", [7, 1000])
def test_rollups_equal_recomputation_after_mixed_split_batches(engine: Engine, batch: int) -> None:
    spans = _workload()
    _store(engine, spans, batch)  # batch 7 cuts traces: children and roots in different transactions
    late_root = _trace(random.Random(1), start=BASE, prompt_on_root=True)
    _store(engine, [late_root[-1]], 10)  # the root first ...
    _store(engine, late_root[:-1], 10)  # ... its children after it
    _assert_rollups_match(engine)


def test_replayed_batches_are_not_counted_twice(engine: Engine) -> None:
    spans = _workload(seed=3, traces=40)
    _store(engine, spans, 50)
    _store(engine, spans[:30], 30)  # a batch replayed entirely
    _store(engine, spans[20:60] + spans[20:25], 100)  # partly stored, with duplicates inside the batch
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(SPAN)).scalar_one() == len(spans)
    _assert_rollups_match(engine)


def test_purge_keeps_rollups_consistent(engine: Engine) -> None:
    _store(engine, _workload(seed=5, traces=80), 64)
    result = purge(engine, user_id="alice")
    assert result.traces > 0
    _assert_rollups_match(engine)
    purge(engine, older_than=BASE + timedelta(hours=12))
    _assert_rollups_match(engine)


def test_rebuild_recomputes_what_the_incremental_path_keeps(engine: Engine) -> None:
    spans = _workload(seed=11, traces=60)
    with engine.begin() as connection:
        connection.execute(insert(Span), spans)  # bypasses the roll-ups, like data from before 0008
    with engine.begin() as connection:
        rebuild(connection)
    _assert_rollups_match(engine)


def test_migration_backfills_existing_spans(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade_database(engine, "0007")
        with engine.begin() as connection:
            connection.execute(insert(Span), _workload(seed=13, traces=30))
        upgrade_database(engine)
        _assert_rollups_match(engine)
    finally:
        engine.dispose()


def test_prompt_version_breakdown_counts_the_traces_llm_tokens_and_cost(engine: Engine) -> None:
    """Trace counts come from the roots, tokens and cost from the LLM calls of the same prompt version."""
    rng = random.Random(2)
    spans = [s for _ in range(10) for s in _trace(rng, start=BASE, prompt_on_root=True)]
    roots_by_trace = {s["trace_id"]: s for s in spans if s["parent_span_id"] is None}
    for span in spans:  # the SDK copies the rendered prompt onto LLM spans started after it
        if span["kind"] == "llm":
            root = roots_by_trace[span["trace_id"]]
            span.update(prompt_name=root["prompt_name"], prompt_version=root["prompt_version"])
    _store(engine, spans, 5)
    rows = {r.key: r for r in rollup_stats.breakdown(engine, by="prompt_version", since=BASE)}
    for version in ("v1", "v2"):
        roots = {s["trace_id"] for s in spans if s["prompt_version"] == version}
        llm = [s for s in spans if s["kind"] == "llm" and s["trace_id"] in roots]
        row = rows[f"support-answer {version}"]
        assert row.calls == len(roots)
        assert row.input_tokens == sum(s["input_tokens"] for s in llm) > 0
        costs = [s["cost_usd"] for s in llm if s["cost_usd"] is not None]
        assert row.cost_usd == (pytest.approx(sum(costs)) if costs else None)


def test_overview_percentiles_within_documented_error(engine: Engine) -> None:
    spans = _workload(seed=17, traces=200)
    _store(engine, spans, 100)
    roots = [s for s in spans if s["parent_span_id"] is None and not s["is_eval"]]
    for point in rollup_stats.overview_series(engine, bucket="day"):
        latencies = np.array([r["latency_ms"] for r in roots if hour_of(r["start_time"])[:10] == point.bucket])
        assert point.traces == len(latencies) and point.percentiles_approximate
        for q in (50, 90, 99):
            exact = float(np.percentile(latencies, q))
            estimate = getattr(point, f"p{q}_ms")
            assert exact / math.sqrt(RATIO) * (1 - 1e-9) <= estimate <= exact * math.sqrt(RATIO) * (1 + 1e-9)


@pytest.mark.parametrize("seed", range(20))
def test_histogram_percentile_bound_against_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.clip(rng.lognormal(rng.uniform(-1, 10), rng.uniform(0.1, 3), size=rng.integers(1, 2000)), 0.1, 5e5)
    counts = [0] * BUCKETS
    for value in values:
        counts[bucket_index(float(value))] += 1
    for q in (0, 1, 50, 90, 99, 99.9, 100):
        exact = float(np.percentile(values, q))
        estimate = percentile(counts, q)
        assert estimate is not None and abs(estimate / exact - 1) <= RELATIVE_ERROR + 1e-9
    assert percentile([0] * BUCKETS, 50) is None


def test_time_window_is_rounded_to_whole_hours(engine: Engine) -> None:
    spans = _workload(seed=19, traces=50)
    _store(engine, spans, 100)
    since = BASE + timedelta(hours=5, minutes=30)
    hours = rollup_stats.overview_series(engine, since=since, until=since + timedelta(hours=2), bucket="hour")
    assert [p.bucket for p in hours] == sorted({hour_of(s["start_time"]) for s in spans if s["parent_span_id"] is None
                                                 and not s["is_eval"]
                                                 and BASE + timedelta(hours=5) <= s["start_time"]
                                                 < BASE + timedelta(hours=8)})  # fmt: skip


def test_rollups_emptied_rows_do_not_show(engine: Engine) -> None:
    _store(engine, _workload(seed=23, traces=20), 100)
    with engine.begin() as connection:
        connection.execute(delete(span_rollup_hour).where(span_rollup_hour.c.kind == "llm"))
    assert rollup_stats.breakdown(engine, by="model") == []


def test_text_search_matches_korean_stored_raw_or_escaped(engine: Engine, tmp_path: Path) -> None:
    escaped = _row(trace_id=uuid.uuid4().hex, start_time=BASE, latency_ms=5.0, input=json.dumps({"q": "환불 규정"}))
    other = _row(trace_id=uuid.uuid4().hex, start_time=BASE, latency_ms=5.0, input=json.dumps({"q": "shipping"}))
    assert "\\ud658" in escaped["input"]
    _store(engine, [escaped, other], 10)
    url = str(engine.url.render_as_string(hide_password=False))
    llmmon.configure(database_url=url, spool_dir=tmp_path / "spool")
    try:

        @llmmon.trace
        def answer(question: str) -> str:
            return "환불은 7일 이내에 가능합니다"

        answer("환불 받을 수 있나요?")
        assert llmmon.flush(10.0).pending == 0
    finally:
        llmmon.shutdown()
    with engine.connect() as connection:
        stored = connection.execute(select(SPAN.c.input).where(SPAN.c.name.like("%answer%"))).scalar_one()
    assert "환불" in stored  # the writer keeps Korean readable (ensure_ascii=False)
    found = list_traces(engine, search="환불", limit=10)
    assert found.count == 2 and escaped["trace_id"] in {t.trace_id for t in found.data}
    assert list_traces(engine, search="규정", limit=10).count == 1
