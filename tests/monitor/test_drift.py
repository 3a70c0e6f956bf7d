"""Drift between windows of seeded synthetic traffic: shifted features are flagged, unchanged ones not."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import Engine

from llmmon.errors import ConfigError
from llmmon.monitor.drift import compare_numeric, compute_drift, psi
from llmmon.monitor.features import script_of, text_of
from llmmon.monitor.windows import Window
from tests.monitor.metrics_traffic import BASE, Trace, store

EN = ["How much is shipping to Busan?", "Can I return shoes after 30 days?", "What are your opening hours?",
      "Do you ship abroad?", "How do I reset my password please?"]
KO = ["배송비는 얼마인가요?", "환불은 언제 되나요?", "영업 시간이 어떻게 되나요?"]
DAY = timedelta(days=1)


def _day(seed: int, day: int, *, n: int = 300, latency_scale: float = 1.0, korean: float = 0.05) -> list[Trace]:
    rng = np.random.default_rng(seed)
    start = BASE + day * DAY
    traces = []
    for i in range(n):
        ko = rng.random() < korean
        pool = KO if ko else EN
        traces.append(
            Trace(
                trace_id=f"{seed:04x}{day:04x}{i:024x}",
                start=start + timedelta(seconds=float(rng.uniform(0, 86000))),
                latency_ms=float(rng.lognormal(7.0, 0.4)) * latency_scale,
                question=str(pool[int(rng.integers(0, len(pool)))]),
                answer="I'm sorry, I can't help with that." if rng.random() < 0.05 else "Shipping costs 3,000 won.",
                input_tokens=int(rng.integers(20, 200)),
                output_tokens=int(rng.integers(10, 100)),
            )
        )
    return traces


def _windows(day: int) -> tuple[Window, Window]:
    return Window(BASE, BASE + DAY), Window(BASE + day * DAY, BASE + (day + 1) * DAY)


def test_drift_flags_shifted_latency_and_not_unchanged_traffic(engine: Engine) -> None:
    store(engine, _day(1, 0) + _day(2, 1) + _day(3, 2, latency_scale=1.6), eval_noise=False)
    reference, unchanged = _windows(1)
    quiet = compute_drift(engine, reference=reference, current=unchanged)
    assert quiet.drifted == [], [(f.feature, f.psi) for f in quiet.drifted]
    latency = quiet.feature("latency_ms")
    assert latency.reference_n == latency.current_n == 300
    assert latency.psi is not None and latency.psi < 0.1
    assert latency.ks_pvalue is not None and latency.ks_pvalue > 0.01

    _, shifted_window = _windows(2)
    shifted = compute_drift(engine, reference=reference, current=shifted_window)
    assert [f.feature for f in shifted.drifted] == ["latency_ms"]
    latency = shifted.feature("latency_ms")
    assert latency.psi is not None and latency.psi > 0.2
    assert latency.ks_pvalue is not None and latency.ks_pvalue < 1e-6
    assert latency.top_bins and latency.top_bins[0].label.startswith(">=")  # slow tail grew most
    assert latency.top_bins[0].current_share > latency.top_bins[0].reference_share


def test_drift_false_alarm_rate_over_seeds(engine: Engine) -> None:
    """Ten unchanged days against one reference: no feature is flagged on any of them."""
    traces = _day(100, 0)
    for day in range(1, 11):
        traces += _day(100 + day, day)
    store(engine, traces, eval_noise=False)
    for day in range(1, 11):
        reference, current = _windows(day)
        report = compute_drift(engine, reference=reference, current=current)
        assert report.drifted == [], (day, [(f.feature, f.psi, f.chi2_pvalue) for f in report.drifted])


def test_drift_language_mix(engine: Engine) -> None:
    store(engine, _day(5, 0, korean=0.05) + _day(6, 1, korean=0.5), eval_noise=False)
    reference, current = _windows(1)
    report = compute_drift(engine, reference=reference, current=current, features=["language", "latency_ms"])
    language = report.feature("language")
    assert language.drifted and language.chi2_pvalue is not None and language.chi2_pvalue < 1e-6
    assert language.top_bins[0].label == "hangul"
    assert language.top_bins[0].current_share == pytest.approx(0.5, abs=0.08)
    assert not report.feature("latency_ms").drifted
    assert report.to_dict()["drifted"] == ["language"]


def test_drift_seasonal_reference_uses_same_hours_of_previous_weeks(engine: Engine) -> None:
    # Mondays are Korean-heavy, other days are not: against the previous Mondays, this Monday is normal.
    traces: list[Trace] = []
    for week in range(3):
        traces += _day(200 + week, 7 * week, korean=0.6)
        traces += _day(300 + week, 7 * week + 1, korean=0.05)
    store(engine, traces, eval_noise=False)
    current = Window(BASE + 14 * DAY, BASE + 15 * DAY)
    seasonal = compute_drift(engine, current=current, seasonal_weeks=2, features=["language"])
    assert [w.start for w in seasonal.reference] == [BASE + 7 * DAY, BASE]
    assert not seasonal.feature("language").drifted
    naive = compute_drift(engine, current=current, reference=Window(BASE + 8 * DAY, BASE + 9 * DAY),
                          features=["language"])
    assert naive.feature("language").drifted


def test_drift_small_windows_and_bad_input(engine: Engine) -> None:
    store(engine, _day(9, 0, n=10), eval_noise=False)
    reference, current = _windows(1)
    report = compute_drift(engine, reference=reference, current=current)
    assert report.drifted == []
    assert all(f.psi is None and "fewer than" in f.note for f in report.features)
    with pytest.raises(ConfigError, match="unknown drift feature 'colour'"):
        compute_drift(engine, reference=reference, current=current, features=["colour"])
    with pytest.raises(ConfigError, match="either a reference window or seasonal_weeks"):
        compute_drift(engine, current=current)


def test_psi_and_helpers() -> None:
    value, terms = psi([50, 50], [50, 50])
    assert value == 0.0 and list(terms) == [0.0, 0.0]
    value, _ = psi([90, 10], [10, 90])  # (0.8 ln 9) * 2
    assert value == pytest.approx(2 * 0.8 * np.log(9))
    value, _ = psi([100, 0], [50, 50])  # empty reference bin: finite thanks to the floor
    assert np.isfinite(value) and value > 1
    same = compare_numeric("x", list(np.random.default_rng(1).normal(size=500)),
                           list(np.random.default_rng(2).normal(size=500)))
    assert not same.drifted
    assert script_of("배송비는 얼마인가요?") == "hangul" and script_of("Hello 세계 world") == "latin"
    assert script_of("1234 ?!") == "none"
    assert text_of('{"question": "hi there", "user_id": "u"}') == "hi there"
    assert text_of('[{"role": "system", "content": "long system prompt"}, {"role": "user", "content": "q"}]') == "q"
