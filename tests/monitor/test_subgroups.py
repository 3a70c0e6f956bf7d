"""Subgroup analysis flags the one bad group only (rates and latencies), Holm-corrected."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import Engine

from llmmon.errors import ConfigError
from llmmon.monitor.subgroups import analyse_subgroups, holm
from tests.monitor.metrics_traffic import BASE, Trace, store

END = BASE + timedelta(days=1)


@pytest.fixture
def traffic(engine: Engine) -> list[Trace]:
    rng = np.random.default_rng(11)
    traces = []
    for i in range(900):
        tier = ["free", "pro", "enterprise", "trial"][i % 4]
        error_p = 0.25 if tier == "enterprise" else 0.05
        latency_scale = 1.5 if tier == "trial" else 1.0
        traces.append(
            Trace(
                trace_id=f"{i:032x}",
                start=BASE + timedelta(seconds=float(rng.uniform(0, 86000))),
                latency_ms=float(rng.lognormal(7.0, 0.4)) * latency_scale,
                status="error" if rng.random() < error_p else "ok",
                metadata={"tier": tier},
                vote="down" if rng.random() < 0.1 else "up",
            )
        )
    store(engine, traces)
    return traces


def test_subgroups_flag_the_bad_group_only(engine: Engine, traffic: list[Trace]) -> None:
    errors = analyse_subgroups(engine, "error_rate", by="metadata:tier", start=BASE, end=END)
    assert {r.labels["metadata.tier"]: r.worse for r in errors} == {
        "enterprise": True, "free": False, "pro": False, "trial": False
    }
    enterprise = next(r for r in errors if r.labels["metadata.tier"] == "enterprise")
    assert enterprise.test == "z" and enterprise.adjusted_p_value is not None and enterprise.adjusted_p_value < 1e-6
    members = [t for t in traffic if t.metadata["tier"] == "enterprise"]
    assert enterprise.volume == len(members)
    assert enterprise.value == pytest.approx(np.mean([t.status == "error" for t in members]))

    latency = analyse_subgroups(engine, "latency_p90", by="metadata:tier", start=BASE, end=END)
    assert [r.labels["metadata.tier"] for r in latency if r.worse] == ["trial"]
    assert all(r.test == "mann-whitney" for r in latency)

    thumbs = analyse_subgroups(engine, "thumbs_down_rate", by="metadata:tier", start=BASE, end=END)
    assert not any(r.worse for r in thumbs)


def test_subgroups_small_groups_are_not_tested(engine: Engine, traffic: list[Trace]) -> None:
    results = analyse_subgroups(engine, "error_rate", by="metadata:tier", start=BASE, end=END, min_volume=10_000)
    assert all(r.test == "too few units" and not r.worse and r.p_value is None for r in results)
    with pytest.raises(ConfigError, match="cannot be compared"):
        analyse_subgroups(engine, "volume", by="metadata:tier", start=BASE, end=END)


def test_holm_adjustment() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([]) == []
