"""Read queries, stats and purge in llmmon.storage.repo, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, func, insert, select
from sqlmodel import Session

from llmmon.errors import ConfigError, StorageError
from llmmon.storage import repo
from llmmon.storage.models import AnswerCheck, ClaimCheck, Span
from tests.support.spans import span_row

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class Workload:
    """What was inserted, so tests can compute the expected aggregates independently."""

    llm: list[dict[str, object]] = field(default_factory=list)
    roots: list[dict[str, object]] = field(default_factory=list)
    prompt_of: dict[str, str] = field(default_factory=dict)


def _span(**values: object) -> dict[str, object]:
    start, latency = values.pop("start_time"), values.pop("latency_ms")
    assert isinstance(start, datetime) and isinstance(latency, float | int)
    return span_row(start_time=start, latency_ms=latency, **values)


def _insert_workload(engine: Engine, *, traces: int = 240, seed: int = 7) -> Workload:
    rng = random.Random(seed)
    workload = Workload()
    rows: list[dict[str, object]] = []
    for i in range(traces):
        trace_id = uuid.uuid4().hex
        start = NOW - timedelta(days=i % 3, minutes=i)
        version = rng.choice(["v1", "v2"])
        model = rng.choice(["gpt-4o-mini", "gpt-4o-mini", "gpt-4.1"])
        failed = rng.random() < 0.15
        root = _span(
            trace_id=trace_id,
            name="answer",
            start_time=start,
            latency_ms=rng.lognormvariate(5, 0.6),
            status="error" if failed else "ok",
            error_type="RuntimeError" if failed else None,
            user_id=f"user-{i % 7}",
            session_id=f"s-{i % 31}",
            prompt_name="support-answer",
            prompt_version=version,
            prompt_hash=f"hash-{version}",
        )
        retrieve = _span(
            trace_id=trace_id,
            parent_span_id=root["span_id"],
            name="retrieve",
            kind="retriever",
            start_time=start,
            latency_ms=rng.uniform(1, 5),
        )
        llm = _span(
            trace_id=trace_id,
            parent_span_id=root["span_id"],
            name="chat.completions",
            kind="llm",
            start_time=start + timedelta(milliseconds=5),
            latency_ms=rng.lognormvariate(4.8, 0.5),
            status="error" if failed and rng.random() < 0.5 else "ok",
            model=model,
            input_tokens=rng.randint(100, 900),
            output_tokens=rng.randint(10, 200),
            cost_usd=rng.uniform(0.0001, 0.002),
        )
        llm["total_tokens"] = int(llm["input_tokens"]) + int(llm["output_tokens"])  # type: ignore[call-overload]
        rows += [root, retrieve, llm]
        workload.roots.append(root)
        workload.llm.append(llm)
        workload.prompt_of[trace_id] = f"support-answer {version}"
    # An eval span must stay out of app stats.
    rows.append(
        _span(
            trace_id=uuid.uuid4().hex,
            name="judge",
            kind="llm",
            start_time=NOW,
            latency_ms=99999.0,
            model="gpt-4o-mini",
            is_eval=True,
            input_tokens=5,
            output_tokens=5,
        )
    )
    with engine.begin() as connection:
        connection.execute(insert(Span.__table__), rows)  # type: ignore[attr-defined]
    return workload


def _expected(values: list[float]) -> tuple[float, float, float]:
    return (
        float(np.percentile(values, 50)),
        float(np.percentile(values, 90)),
        float(np.percentile(values, 99)),
    )


def test_span_stats_by_model_match_numpy(engine: Engine) -> None:
    workload = _insert_workload(engine)
    by_model: dict[str, list[dict[str, object]]] = defaultdict(list)
    for llm in workload.llm:
        by_model[str(llm["model"])].append(llm)

    rows = repo.span_stats(engine, group_by="model")

    assert [row.key for row in rows] == sorted(by_model)
    for row in rows:
        spans = by_model[str(row.key)]
        latencies = [float(s["latency_ms"]) for s in spans]  # type: ignore[arg-type]
        assert row.count == len(spans)
        assert (row.p50_ms, row.p90_ms, row.p99_ms) == pytest.approx(_expected(latencies), rel=1e-9)
        errors = sum(1 for s in spans if s["status"] == "error")
        assert row.errors == errors
        assert row.error_rate == pytest.approx(errors / len(spans))
        assert row.input_tokens == sum(int(s["input_tokens"]) for s in spans)  # type: ignore[call-overload]
        assert row.total_tokens == sum(int(s["total_tokens"]) for s in spans)  # type: ignore[call-overload]
        assert row.cost_usd == pytest.approx(sum(float(s["cost_usd"]) for s in spans))  # type: ignore[arg-type]


def test_span_stats_by_prompt_version_aggregates_traces(engine: Engine) -> None:
    workload = _insert_workload(engine)
    groups: dict[str, list[int]] = defaultdict(list)
    for index, root in enumerate(workload.roots):
        groups[workload.prompt_of[str(root["trace_id"])]].append(index)

    rows = repo.span_stats(engine, group_by="prompt_version")

    assert [row.key for row in rows] == ["support-answer v1", "support-answer v2"]
    for row in rows:
        members = groups[str(row.key)]
        latencies = [float(workload.roots[i]["latency_ms"]) for i in members]  # type: ignore[arg-type]
        assert row.count == len(members)
        assert (row.p50_ms, row.p90_ms, row.p99_ms) == pytest.approx(_expected(latencies), rel=1e-9)
        assert row.errors == sum(1 for i in members if workload.roots[i]["status"] == "error")
        # Tokens and cost of a trace come from its LLM spans.
        assert row.output_tokens == sum(int(workload.llm[i]["output_tokens"]) for i in members)  # type: ignore[call-overload]
        assert row.cost_usd == pytest.approx(sum(float(workload.llm[i]["cost_usd"]) for i in members))  # type: ignore[arg-type]


def test_span_stats_by_day_uses_utc_days_and_window(engine: Engine) -> None:
    workload = _insert_workload(engine)
    by_day: dict[str, list[float]] = defaultdict(list)
    for root in workload.roots:
        start = root["start_time"]
        assert isinstance(start, datetime)
        by_day[start.date().isoformat()].append(float(root["latency_ms"]))  # type: ignore[arg-type]

    rows = repo.span_stats(engine, group_by="day")

    assert [row.key for row in rows] == sorted(by_day)
    for row in rows:
        assert row.count == len(by_day[str(row.key)])
        assert (row.p50_ms, row.p90_ms, row.p99_ms) == pytest.approx(
            _expected(by_day[str(row.key)]), rel=1e-9
        )

    recent = repo.span_stats(engine, group_by="day", since=NOW - timedelta(hours=30))
    assert sum(row.count for row in recent) == sum(
        1
        for r in workload.roots
        if r["start_time"] >= NOW - timedelta(hours=30)  # type: ignore[operator]
    )


def test_span_stats_percentiles_of_one_and_two_values(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(Span.__table__),  # type: ignore[attr-defined]
            [
                _span(trace_id="a" * 32, name="x", kind="llm", model="m1", start_time=NOW, latency_ms=10.0),
                _span(trace_id="b" * 32, name="x", kind="llm", model="m2", start_time=NOW, latency_ms=10.0),
                _span(trace_id="c" * 32, name="x", kind="llm", model="m2", start_time=NOW, latency_ms=30.0),
            ],
        )
    rows = {row.key: row for row in repo.span_stats(engine, group_by="model")}
    assert (rows["m1"].p50_ms, rows["m1"].p99_ms) == (10.0, 10.0)
    assert rows["m2"].p50_ms == pytest.approx(20.0)
    assert rows["m2"].p90_ms == pytest.approx(28.0)
    assert rows["m2"].cost_usd is None  # unknown cost stays unknown, never 0


def test_span_stats_rejects_unknown_grouping(engine: Engine) -> None:
    with pytest.raises(ConfigError, match="cannot group by"):
        repo.span_stats(engine, group_by="colour")  # type: ignore[arg-type]


def test_list_traces_filters_and_paginates(engine: Engine) -> None:
    workload = _insert_workload(engine)

    page = repo.list_traces(engine, limit=10)
    assert page.count == len(workload.roots)
    assert len(page.data) == 10
    starts = [t.start_time for t in page.data]
    assert starts == sorted(starts, reverse=True)
    first = page.data[0]
    assert first.span_count == 3 and first.input_tokens is not None

    seen: set[str] = set()
    offset = 0
    while True:
        chunk = repo.list_traces(engine, limit=50, offset=offset)
        if not chunk.data:
            break
        seen.update(t.trace_id for t in chunk.data)
        offset += 50
    assert len(seen) == len(workload.roots)

    errors = repo.list_traces(engine, status="error", limit=1000)
    assert errors.count == sum(1 for r in workload.roots if r["status"] == "error")
    assert all(t.status == "error" for t in errors.data)

    v2 = repo.list_traces(engine, prompt_version="v2", limit=1000)
    assert v2.count == sum(1 for p in workload.prompt_of.values() if p.endswith("v2"))

    by_model = repo.list_traces(engine, model="gpt-4.1", limit=1000)
    assert by_model.count == sum(1 for s in workload.llm if s["model"] == "gpt-4.1")

    user = repo.list_traces(engine, user_id="user-3", limit=1000)
    assert {t.user_id for t in user.data} == {"user-3"}

    since = repo.list_traces(engine, since=NOW - timedelta(hours=1), limit=1000)
    assert since.count == sum(1 for r in workload.roots if r["start_time"] >= NOW - timedelta(hours=1))  # type: ignore[operator]

    assert repo.list_traces(engine, name="no-such-function").count == 0


def test_list_traces_rejects_bad_paging(engine: Engine) -> None:
    with pytest.raises(ConfigError):
        repo.list_traces(engine, limit=0)


def test_get_trace_builds_tree_and_accepts_prefix(engine: Engine) -> None:
    workload = _insert_workload(engine, traces=5)
    trace_id = str(workload.roots[0]["trace_id"])

    roots = repo.get_trace(engine, trace_id)
    assert len(roots) == 1
    assert roots[0].span.name == "answer"
    assert sorted(child.span.name for child in roots[0].children) == ["chat.completions", "retrieve"]

    assert repo.get_trace(engine, trace_id[:10])[0].span.trace_id == trace_id
    with pytest.raises(StorageError, match="no trace"):
        repo.get_trace(engine, "0" * 32)


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one()[0])  # type: ignore[call-overload]


def test_purge_older_than_deletes_whole_traces_and_attached_rows(engine: Engine) -> None:
    workload = _insert_workload(engine, traces=30)
    old_trace = str(workload.roots[-1]["trace_id"])  # started 2 days before NOW
    with Session(engine) as session:
        check = AnswerCheck(
            trace_id=old_trace, kb_name="lumen", kb_version="1", verdict="supported", score=0.0
        )
        session.add(check)
        session.flush()
        assert check.id is not None
        # trace_id left empty on purpose: the claim is reached through its foreign key.
        session.add(
            ClaimCheck(
                answer_check_id=check.id,
                trace_id=None,
                text="c",
                start=0,
                end=1,
                verdict="supported",
                tier="llm",
            )
        )
        session.commit()
    cutoff = NOW - timedelta(days=1, hours=12)
    expected_traces = {str(r["trace_id"]) for r in workload.roots if r["start_time"] < cutoff}  # type: ignore[operator]
    assert old_trace in expected_traces

    result = repo.purge(engine, older_than=cutoff)

    assert result.traces == len(expected_traces)
    assert result.rows["span"] == 3 * len(expected_traces)
    assert result.rows["answer_check"] == 1 and result.rows["claim_check"] == 1
    assert _count(engine, AnswerCheck) == 0 and _count(engine, ClaimCheck) == 0
    remaining = repo.list_traces(engine, limit=1000)
    assert remaining.count == 30 - len(expected_traces)
    assert not expected_traces & {t.trace_id for t in remaining.data}
    assert repo.purge(engine, older_than=cutoff).traces == 0  # idempotent


def test_purge_by_user_removes_only_that_user(engine: Engine) -> None:
    workload = _insert_workload(engine, traces=28)
    mine = [r for r in workload.roots if r["user_id"] == "user-2"]

    result = repo.purge(engine, user_id="user-2")

    assert result.traces == len(mine) == 4
    assert result.rows["span"] == 12
    assert repo.list_traces(engine, user_id="user-2").count == 0
    assert repo.list_traces(engine, limit=1000).count == 24


def test_purge_needs_exactly_one_criterion(engine: Engine) -> None:
    with pytest.raises(ConfigError):
        repo.purge(engine)
    with pytest.raises(ConfigError):
        repo.purge(engine, older_than=NOW, user_id="u")


def test_prompt_hashes_lists_recorded_hashes(engine: Engine) -> None:
    _insert_workload(engine, traces=20)
    hashes = repo.prompt_hashes(engine)
    assert hashes == {("support-answer", "v1"): {"hash-v1"}, ("support-answer", "v2"): {"hash-v2"}}


def test_queries_on_unreachable_database_raise_storage_error(tmp_path: object) -> None:
    from llmmon.storage.engine import make_engine

    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(StorageError, match="cannot connect"):
            repo.list_traces(engine)
    finally:
        engine.dispose()
