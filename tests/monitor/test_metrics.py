"""The metric registry against numpy recomputations of seeded synthetic traffic (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import Engine

from llmmon.errors import ConfigError
from llmmon.monitor.metrics import METRICS, REGENERATION_SECONDS, MetricValue, cohen_kappa, compute_metric
from tests.monitor.metrics_traffic import BASE, Trace, mixed_traffic, store

START, END = BASE, BASE + timedelta(hours=24)


def _groups(traces: list[Trace], key: Callable[[Trace], str]) -> dict[str, list[Trace]]:
    groups: dict[str, list[Trace]] = defaultdict(list)
    for trace in traces:
        groups[key(trace)].append(trace)
    return groups


def _by_label(values: list[MetricValue], label: str) -> dict[str, MetricValue]:
    return {value.labels[label]: value for value in values}


def _regenerated(traces: list[Trace]) -> dict[str, int]:
    """Trace id -> 1 when the next ask of its session came within REGENERATION_SECONDS of its end."""
    sessions = _groups([t for t in traces if t.session_id], lambda t: str(t.session_id))
    result: dict[str, int] = {}
    for members in sessions.values():
        members.sort(key=lambda t: (t.start, t.trace_id))
        for current, following in zip(members, [*members[1:], None], strict=True):
            gap = (following.start - current.end).total_seconds() if following else None
            result[current.trace_id] = int(gap is not None and gap <= REGENERATION_SECONDS)
    return result


@pytest.fixture
def traffic(engine: Engine) -> list[Trace]:
    traces = mixed_traffic(seed=7)
    # Sessions that ask again quickly, so the regeneration rate is not trivially zero.
    for i in range(0, 60, 2):
        first, second = traces[i], traces[i + 1]
        second.session_id = first.session_id = f"fast{i}"
        second.start = first.end + timedelta(seconds=5 + i)
    traces.sort(key=lambda t: t.start)
    store(engine, traces)
    return traces


def test_metrics_equal_numpy_by_model(engine: Engine, traffic: list[Trace]) -> None:
    groups = _groups(traffic, lambda t: t.model)

    def check(name: str, expected: Callable[[list[Trace]], tuple[float | None, int]]) -> None:
        got = _by_label(compute_metric(engine, name, start=START, end=END, group_by="model"), "model")
        assert set(got) == set(groups), name
        for model, members in groups.items():
            value, volume = expected(members)
            assert got[model].volume == volume, (name, model)
            if value is None:
                assert got[model].value is None, (name, model)
            else:
                assert got[model].value == pytest.approx(value, rel=1e-9, abs=1e-12), (name, model)

    check("volume", lambda m: (len(m), len(m)))
    for name, q in (("latency_p50", 50), ("latency_p90", 90), ("latency_p99", 99)):
        check(name, lambda m, q=q: (float(np.percentile([t.latency_ms for t in m], q)), len(m)))
    for name, q in (("ttft_p50", 50), ("ttft_p99", 99)):
        check(name, lambda m, q=q: (
            float(np.percentile([t.ttft_ms for t in m if t.ttft_ms is not None], q)),
            sum(t.ttft_ms is not None for t in m),
        ))
    check("error_rate", lambda m: (float(np.mean([t.status == "error" for t in m])), len(m)))
    check("tokens_per_answer", lambda m: (float(np.mean([t.input_tokens + t.output_tokens for t in m])), len(m)))
    costs: Callable[[list[Trace]], list[float]] = lambda m: [t.cost_usd for t in m if t.cost_usd is not None]  # noqa: E731
    check("cost_per_answer", lambda m: (float(np.mean(costs(m))), len(costs(m))))
    check("cost_total", lambda m: (float(np.sum(costs(m))), len(costs(m))))
    checked: Callable[[list[Trace]], list[Trace]] = lambda m: [t for t in m if t.claims is not None]  # noqa: E731
    check("hallucination_rate", lambda m: (
        float(np.mean([t.checked_verdict == "hallucinated" for t in checked(m)])), len(checked(m))
    ))
    claims: Callable[[list[Trace]], list[str]] = lambda m: [c for t in m for c in (t.claims or [])]  # noqa: E731
    check("unsupported_claim_rate", lambda m: (
        float(np.mean([c != "supported" for c in claims(m)])), len(claims(m))
    ))
    voted: Callable[[list[Trace]], list[Trace]] = lambda m: [t for t in m if t.vote]  # noqa: E731
    check("thumbs_down_rate", lambda m: (float(np.mean([t.vote == "down" for t in voted(m)])), len(voted(m))))
    regenerated = _regenerated(traffic)
    session: Callable[[list[Trace]], list[Trace]] = lambda m: [t for t in m if t.session_id]  # noqa: E731
    check("regeneration_rate", lambda m: (
        float(np.mean([regenerated[t.trace_id] for t in session(m)])), len(session(m))
    ))
    assert any(regenerated.values()) and not all(regenerated.values())

    def kappa(members: list[Trace]) -> tuple[float | None, int]:
        pairs = [
            (t.checked_verdict == "hallucinated", t.vote == "down")
            for t in members
            if t.vote and t.checked_verdict in ("hallucinated", "supported")
        ]
        cells = [sum(1 for p in pairs if p == combo) for combo in ((True, True), (True, False), (False, True))]
        return cohen_kappa(*cells, len(pairs) - sum(cells)), len(pairs)

    check("judge_human_kappa", kappa)


def test_metrics_group_by_prompt_version_tag_and_metadata(engine: Engine, traffic: list[Trace]) -> None:
    by_version = compute_metric(engine, "latency_p90", start=START, end=END, group_by="prompt_version", exact=True)
    assert [v.labels for v in by_version] == [
        {"prompt_name": "support-answer", "prompt_version": "v1"},
        {"prompt_name": "support-answer", "prompt_version": "v2"},
    ]
    for value in by_version:
        members = [t.latency_ms for t in traffic if t.prompt_version == value.labels["prompt_version"]]
        assert value.value == pytest.approx(float(np.percentile(members, 90)))

    by_tag = _by_label(compute_metric(engine, "error_rate", start=START, end=END, group_by="tag"), "tag")
    assert set(by_tag) == {"prod", "beta"}
    beta = [t for t in traffic if "beta" in t.tags]
    assert by_tag["beta"].volume == len(beta)
    assert by_tag["beta"].value == pytest.approx(np.mean([t.status == "error" for t in beta]))
    assert by_tag["prod"].volume == len(traffic)

    tiers = compute_metric(engine, "volume", start=START, end=END, group_by="metadata:tier")
    by_tier = _by_label(tiers, "metadata.tier")
    assert {k: v.volume for k, v in by_tier.items()} == {
        k: len(v) for k, v in _groups(traffic, lambda t: t.metadata["tier"]).items()
    }
    two_keys = compute_metric(engine, "volume", start=START, end=END, group_by=["model", "metadata.lang"])
    expected = _groups(traffic, lambda t: f"{t.model}/{t.metadata['lang']}")
    assert {f"{v.labels['model']}/{v.labels['metadata.lang']}": v.volume for v in two_keys} == {
        k: len(v) for k, v in expected.items()
    }


def test_metrics_filters(engine: Engine, traffic: list[Trace]) -> None:
    filters = {"model": "gpt-4o", "prompt_version": "v2", "metadata.tier": "pro", "tag": "beta"}
    members = [
        t for t in traffic
        if t.model == "gpt-4o" and t.prompt_version == "v2" and t.metadata["tier"] == "pro" and "beta" in t.tags
    ]
    assert members
    [value] = compute_metric(engine, "latency_p50", start=START, end=END, filters=filters)
    assert value.labels == {}
    assert value.volume == len(members)
    assert value.value == pytest.approx(float(np.percentile([t.latency_ms for t in members], 50)))
    user = traffic[3].user_id
    assert user is not None
    [by_user] = compute_metric(engine, "volume", start=START, end=END, filters={"user_id": user})
    assert by_user.volume == sum(t.user_id == user for t in traffic)


def test_metrics_window_bounds_and_empty_window(engine: Engine, traffic: list[Trace]) -> None:
    start, end = BASE + timedelta(hours=6), BASE + timedelta(hours=12)
    [value] = compute_metric(engine, "volume", start=start, end=end)
    assert value.volume == sum(start <= t.start < end for t in traffic)
    empty_start = BASE + timedelta(days=30)
    for name in METRICS:
        [nothing] = compute_metric(engine, name, start=empty_start, end=empty_start + timedelta(hours=1))
        assert nothing.volume == 0, name
        assert nothing.value is None, name
        assert compute_metric(engine, name, start=empty_start, end=empty_start + timedelta(hours=1),
                              group_by="model") == []


def test_metrics_bad_input_is_a_config_error(engine: Engine) -> None:
    with pytest.raises(ConfigError, match=r"unknown metric 'latency_p95'.*latency_p99"):
        compute_metric(engine, "latency_p95", start=START, end=END)
    with pytest.raises(ConfigError, match="unknown filter 'colour'"):
        compute_metric(engine, "volume", start=START, end=END, filters={"colour": "red"})
    with pytest.raises(ConfigError, match="cannot group by 'colour'"):
        compute_metric(engine, "volume", start=START, end=END, group_by="colour")
    with pytest.raises(ConfigError, match="metadata key"):
        compute_metric(engine, "volume", start=START, end=END, group_by="metadata:a'b")
    with pytest.raises(ConfigError, match="not after its start"):
        compute_metric(engine, "volume", start=END, end=START)


def test_cohen_kappa_matches_textbook_values() -> None:
    # 20/5/10/15: po = 0.7, pe = 0.5 -> kappa 0.4 (the Wikipedia example).
    assert cohen_kappa(20, 5, 10, 15) == pytest.approx(0.4)
    assert cohen_kappa(10, 0, 0, 10) == pytest.approx(1.0)
    assert cohen_kappa(0, 0, 0, 0) is None
    assert cohen_kappa(0, 0, 0, 7) is None
