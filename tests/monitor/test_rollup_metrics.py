"""The roll-up fast path of ``compute_metric`` against the exact span SQL, and alert batching."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from llmmon.monitor.alerts import AlertMonitor, RegistryMetrics
from llmmon.monitor.metrics import MetricValue, compute_metric
from llmmon.monitor.rollup_metrics import ROLLUP_METRICS, rollup_window
from llmmon.monitor.rules import parse_rules
from llmmon.storage.latency_histogram import RELATIVE_ERROR
from tests.monitor.traffic import Answer, write_answers

START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
HOURS = 6
END = START + timedelta(hours=HOURS)
GROUPINGS: list[str | None] = [None, "prompt_version", "prompt_name"]


@pytest.fixture
def answers(engine: Engine) -> list[Answer]:
    """Six hours of answers (plus some just outside) over two prompts and three versions."""
    rng = random.Random(11)
    result = []
    for index in range(900):
        at = START - timedelta(minutes=30) + timedelta(seconds=rng.uniform(0, (HOURS + 1) * 3600))
        name, version = rng.choice([("support-answer", "v1"), ("support-answer", "v2"), ("triage", "v1")])
        result.append(
            Answer(
                at=at,
                prompt_name=name,
                prompt_version=version,
                latency_ms=rng.lognormvariate(6.5, 0.8),
                status="error" if rng.random() < 0.08 else "ok",
                hallucinated=rng.random() < 0.1 if index % 3 == 0 else None,
                thumbs=("down" if rng.random() < 0.3 else "up") if index % 7 == 0 else None,
            )
        )
    write_answers(engine, result, seed=3)
    return result


def _assert_matches(metric: str, fast: list[MetricValue], exact: list[MetricValue]) -> None:
    assert [v.labels for v in fast] == [v.labels for v in exact], metric
    assert [v.volume for v in fast] == [v.volume for v in exact], metric
    for quick, slow in zip(fast, exact, strict=True):
        assert not slow.approximate
        if metric.startswith("latency_"):
            assert quick.approximate
            assert slow.value is not None and quick.value is not None
            assert slow.value / (1 + RELATIVE_ERROR) <= quick.value <= slow.value * (1 + RELATIVE_ERROR), metric
        else:
            assert not quick.approximate, metric
            assert quick.value == pytest.approx(slow.value, rel=1e-12, abs=0), metric


@pytest.mark.parametrize("group_by", GROUPINGS)
def test_fast_path_equals_exact_on_whole_hours(engine: Engine, answers: list[Answer], group_by: str | None) -> None:
    for start, end in ((START, END), (START + timedelta(hours=2), START + timedelta(hours=3))):
        for metric in sorted(ROLLUP_METRICS):
            fast = compute_metric(engine, metric, start=start, end=end, group_by=group_by)
            exact = compute_metric(engine, metric, start=start, end=end, group_by=group_by, exact=True)
            _assert_matches(metric, fast, exact)
    volume = compute_metric(engine, "volume", start=START, end=END, group_by=group_by)
    assert sum(v.volume for v in volume) == sum(START <= a.at < END for a in answers)


def test_fast_path_filters_by_prompt(engine: Engine, answers: list[Answer]) -> None:
    filters = {"prompt_name": "support-answer", "prompt_version": "v2"}
    for metric in sorted(ROLLUP_METRICS):
        fast = compute_metric(engine, metric, start=START, end=END, filters=filters)
        exact = compute_metric(engine, metric, start=START, end=END, filters=filters, exact=True)
        _assert_matches(metric, fast, exact)
    errors = [a for a in answers if START <= a.at < END and a.prompt_version == "v2" and a.prompt_name != "triage"]
    (rate,) = compute_metric(engine, "error_rate", start=START, end=END, filters=filters)
    assert rate.volume == len(errors)
    assert rate.value == pytest.approx(sum(a.status == "error" for a in errors) / len(errors))


@pytest.mark.parametrize(
    ("window", "filters", "group_by"),
    [
        ((START, START + timedelta(minutes=30)), {}, "prompt_version"),  # sub-hour window
        ((START, END), {"model": "gpt-4o-mini"}, None),  # the roll-ups' trace units carry no model
        ((START, END), {}, "model"),
        ((START, END), {}, "tag"),
        ((START, END), {}, "user_id"),
    ],
)
def test_other_scopes_fall_back_to_the_exact_sql(
    engine: Engine, answers: list[Answer], window: tuple[datetime, datetime], filters: dict[str, str],
    group_by: str | None,
) -> None:  # fmt: skip
    start, end = window
    fast = compute_metric(engine, "latency_p99", start=start, end=end, filters=filters, group_by=group_by)
    exact = compute_metric(engine, "latency_p99", start=start, end=end, filters=filters, group_by=group_by, exact=True)
    assert fast == exact
    assert not any(v.approximate for v in fast)


def test_window_of_an_hour_or_more_is_rounded_to_hours_and_marked(engine: Engine, answers: list[Answer]) -> None:
    start, end = START + timedelta(minutes=20), START + timedelta(hours=2, minutes=40)
    window = rollup_window(start, end)
    assert window is not None and window.rounded
    assert (window.start, window.end) == (START, START + timedelta(hours=3))
    (rounded,) = compute_metric(engine, "volume", start=start, end=end)
    (whole,) = compute_metric(engine, "volume", start=START, end=START + timedelta(hours=3), exact=True)
    assert rounded.approximate and rounded.volume == whole.volume and rounded.value == whole.value
    assert rollup_window(START, START + timedelta(minutes=59)) is None


def test_empty_window_has_no_value(engine: Engine, answers: list[Answer]) -> None:
    later = END + timedelta(days=3)
    for metric in sorted(ROLLUP_METRICS):
        assert compute_metric(engine, metric, start=later, end=later + timedelta(hours=2)) == [
            MetricValue(labels={}, value=None, volume=0)
        ]
        assert compute_metric(engine, metric, start=later, end=later + timedelta(hours=2), group_by="prompt_name") == []


def test_quality_metrics_count_checks_written_shortly_before_the_trace_started(engine: Engine) -> None:
    # clock skew: the worker's clock is 10 minutes behind the application's
    at = START + timedelta(minutes=5)
    write_answers(engine, [Answer(at=at, hallucinated=True), Answer(at=at, hallucinated=False)])
    from sqlalchemy import update

    from llmmon.storage.models import AnswerCheck

    with engine.begin() as connection:
        connection.execute(update(AnswerCheck).values(created_at=at - timedelta(minutes=10)))
    (value,) = compute_metric(engine, "hallucination_rate", start=START, end=START + timedelta(minutes=10))
    assert (value.value, value.volume) == (0.5, 2)


def test_ungrouped_rule_batched_with_its_grouped_sibling_equals_its_own_query(
    engine: Engine, answers: list[Answer]
) -> None:
    known = RegistryMetrics().known_metrics()
    alone = [
        {"id": f"{metric}-all", "metric": metric, "window": "6h", "threshold": 1e9}
        for metric in ("hallucination_rate", "thumbs_down_rate", "error_rate", "volume", "cost_total")
    ]
    siblings = [{**rule, "id": f"{rule['metric']}-by-version", "group_by": "prompt_version"} for rule in alone]
    single = AlertMonitor(engine, parse_rules({"rules": alone}, known_metrics=known)).evaluate(now=END)
    batched = AlertMonitor(engine, parse_rules({"rules": siblings + alone}, known_metrics=known)).evaluate(now=END)
    by_rule = {e.rule_id: e for e in batched.evaluations if e.rule_id.endswith("-all")}
    assert len(single.evaluations) == len(alone)
    for evaluation in single.evaluations:
        other = by_rule[evaluation.rule_id]
        assert other.volume == evaluation.volume > 0
        assert other.value == pytest.approx(evaluation.value, rel=1e-12), evaluation.rule_id


def test_cli_marks_rolled_up_values_and_exact_reads_the_spans(sqlite_url: str) -> None:
    from typer.testing import CliRunner

    from llmmon.cli import app
    from llmmon.storage.engine import make_engine
    from llmmon.storage.migrate import upgrade_database

    db_url = sqlite_url
    engine = make_engine(db_url)
    try:
        upgrade_database(engine)
        write_answers(engine, [Answer(at=START + timedelta(minutes=m), latency_ms=100.0 + m) for m in range(60)])
    finally:
        engine.dispose()
    runner = CliRunner()
    end = (START + timedelta(hours=1)).isoformat()
    args = ["metrics", "--db", db_url, "--window", "1h", "--end", end, "-m", "latency_p99", "--json"]
    fast = runner.invoke(app, args)
    exact = runner.invoke(app, [*args, "--exact"])
    assert fast.exit_code == 0 and exact.exit_code == 0, fast.output + exact.output
    assert '"approximate": true' in fast.output and '"approximate": false' in exact.output
    table = runner.invoke(app, args[:-1])
    assert "~" in table.output
