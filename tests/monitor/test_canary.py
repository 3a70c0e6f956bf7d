"""Canary: sticky assignment recorded on spans, the sequential report and its verdicts, the
rollback hook (callable, pkg.mod:fn, webhook on a real local server), and shadow traffic."""

from __future__ import annotations

import random
import sys
import threading
import types
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

import llmmon
from llmmon.errors import ConfigError
from llmmon.monitor.canary import CANARY_METRICS, CanaryReport, canary_report, choose
from llmmon.monitor.sequential import ArmSummary, difference_interval, half_width, summarise
from llmmon.monitor.shadow import shadow
from llmmon.tracing.recorder import InMemoryRecorder
from tests.monitor.traffic import Answer, write_answers
from tests.monitor.webhook_server import WebhookServer

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def memory() -> Iterator[InMemoryRecorder]:
    recorder = InMemoryRecorder()
    llmmon.configure(recorder=recorder)
    yield recorder
    llmmon.shutdown()


# -- assignment ----------------------------------------------------------------------------


def test_choose_is_sticky_deterministic_and_close_to_the_weights() -> None:
    users = [f"user-{i}" for i in range(20_000)]
    first = [choose("support-answer", u, {"v3": 90, "v4": 10}) for u in users]
    assert first == [choose("support-answer", u, {"v3": 90, "v4": 10}) for u in users]
    share = Counter(first)["v4"] / len(users)
    assert 0.09 < share < 0.11
    # Another canary name hashes independently.
    other = [choose("judge/faithfulness", u, {"v3": 90, "v4": 10}) for u in users]
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 1000


def test_choose_ramp_up_only_moves_users_into_the_candidate() -> None:
    users = [f"u{i}" for i in range(5000)]
    at_10 = {u for u in users if choose("p", u, {"v3": 90, "v4": 10}) == "v4"}
    at_50 = {u for u in users if choose("p", u, {"v3": 50, "v4": 50}) == "v4"}
    assert at_10 < at_50
    assert {choose("p", u, {"v3": 0, "v4": 1}) for u in users[:100]} == {"v4"}


@pytest.mark.parametrize("weights", [{}, {"v3": 0, "v4": 0}, {"v3": -1, "v4": 2}, {"v3": float("nan")}])
def test_choose_rejects_bad_weights(weights: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="canary 'p'"):
        choose("p", "u1", weights)


def test_choose_records_the_variant_on_the_current_span(memory: InMemoryRecorder) -> None:
    with llmmon.span("answer") as span:
        version = choose("support-answer", "alice", {"v3": 50, "v4": 50})
    with llmmon.span("answer"):
        model = choose("llm", "alice", {"gpt-4o-mini": 1, "gpt-4o": 1}, kind="model")
    llmmon.flush()
    first, second = memory.spans
    assert first is span
    assert first.attributes == {"canary.support-answer": version}
    assert (first.prompt_name, first.prompt_version) == ("support-answer", version)
    assert second.model == model and second.attributes == {"canary.llm": model}
    assert choose("support-answer", "alice", {"v3": 50, "v4": 50}) == version  # no span: still works


# -- sequential statistics -------------------------------------------------------------------


def test_confidence_sequence_covers_the_truth_when_peeking_every_step() -> None:
    """Across 200 simulated A/A canaries looked at after every 50 answers, the interval for the
    difference excludes 0 at some look in at most ~alpha of them (a fixed-n CI would not)."""
    rng = random.Random(7)
    false_alarms = 0
    for _ in range(200):
        k_a = k_b = 0
        for n in range(50, 2001, 50):
            k_a += sum(rng.random() < 0.1 for _ in range(50))
            k_b += sum(rng.random() < 0.1 for _ in range(50))
            interval = difference_interval(_arm(k_a, n), _arm(k_b, n), alpha=0.05)
            if interval.low > 0 or interval.high < 0:
                false_alarms += 1
                break
    assert false_alarms <= 10
    assert half_width(100, 1.0, alpha=0.05) > half_width(1000, 1.0, alpha=0.05)


def _arm(events: int, n: int) -> ArmSummary:
    p = (events + 1) / (n + 2)  # what summarise() computes for 0/1 values, without the list
    assert summarise([1.0] * events + [0.0] * (n - events), binary=True).variance == pytest.approx(p * (1 - p))
    return ArmSummary(n, events / n, p * (1 - p))


def _canary_traffic(
    *, n_base: int, n_cand: int, base_bad: float, cand_bad: float, cand_latency: float = 800.0, seed: int = 0
) -> list[Answer]:
    rng = random.Random(seed)
    answers = []
    for i in range(n_base + n_cand):
        candidate = rng.random() < n_cand / (n_base + n_cand)
        bad = rng.random() < (cand_bad if candidate else base_bad)
        answers.append(
            Answer(
                at=T0 + timedelta(seconds=i),
                prompt_version="v4" if candidate else "v3",
                hallucinated=bad,
                thumbs="down" if bad and rng.random() < 0.5 else "up",
                latency_ms=rng.gauss(cand_latency if candidate else 800.0, 50.0),
                cost_usd=0.001,
            )
        )
    return answers


def _report(engine: Engine, **options: object) -> CanaryReport:
    options.setdefault("metrics", CANARY_METRICS[:2])
    return canary_report(
        engine,
        prompt="support-answer",
        baseline="v3",
        candidate="v4",
        start=T0,
        end=T0 + timedelta(days=1),
        **options,  # type: ignore[arg-type]
    )


def test_canary_report_rolls_back_a_candidate_that_hallucinates(engine: Engine) -> None:
    answers = _canary_traffic(n_base=600, n_cand=300, base_bad=0.02, cand_bad=0.25)
    write_answers(engine, answers)
    report = _report(engine, metrics=CANARY_METRICS)
    assert report.verdict == "roll back" and "hallucination rate" in report.reason
    assert {c.metric: c.status for c in report.comparisons}["judge_score_mean"] == "no data"
    by_metric = {c.metric: c for c in report.comparisons}
    hallucination = by_metric["hallucination_rate"]
    assert hallucination.status == "worse" and hallucination.low is not None and hallucination.low > 0.02
    arms = Counter(a.prompt_version for a in answers)
    assert hallucination.candidate_n == arms["v4"] and hallucination.baseline_n == arms["v3"]
    assert by_metric["thumbs_down_rate"].status in ("worse", "undecided")


def test_canary_report_promotes_an_equal_candidate_and_waits_on_little_traffic(engine: Engine) -> None:
    write_answers(engine, _canary_traffic(n_base=2000, n_cand=2000, base_bad=0.01, cand_bad=0.01, seed=3))
    report = _report(engine, metrics=CANARY_METRICS[:1])
    assert report.verdict == "promote", report.model_dump_json(indent=1)
    small = canary_report(
        engine,
        prompt="support-answer",
        baseline="v3",
        candidate="v4",
        start=T0,
        end=T0 + timedelta(seconds=200),
        metrics=CANARY_METRICS[:1],
    )
    assert small.verdict == "keep waiting"
    assert small.candidate_n_needed is not None and small.candidate_n_needed > 100
    assert "candidate answers needed" in small.reason


def test_canary_report_without_traffic_keeps_waiting(engine: Engine) -> None:
    report = _report(engine)
    assert report.verdict == "keep waiting" and "no traffic" in report.reason
    with pytest.raises(ConfigError, match="same version"):
        canary_report(engine, prompt="p", baseline="v3", candidate="v3", start=T0, end=T0)


def test_rollback_hook_is_called_as_callable_module_function_and_webhook(engine: Engine) -> None:
    write_answers(engine, _canary_traffic(n_base=300, n_cand=200, base_bad=0.02, cand_bad=0.4, seed=5))
    calls: list[str] = []
    report = _report(engine, rollback=lambda r: calls.append(r.candidate) or "ok")
    assert calls == ["v4"] and report.rollback_result == "called: 'ok'"

    module = types.ModuleType("llmmon_test_rollback_hooks")
    module.roll = lambda r: f"rolled {r.candidate}"  # type: ignore[attr-defined]
    module.broken = lambda r: 1 / 0  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    try:
        assert _report(engine, rollback=f"{module.__name__}:roll").rollback_result == "called: 'rolled v4'"
        broken = _report(engine, rollback=f"{module.__name__}:broken")
        assert broken.verdict == "roll back" and broken.rollback_result == "failed: ZeroDivisionError: division by zero"
    finally:
        del sys.modules[module.__name__]
    assert "neither a URL" in (_report(engine, rollback="nonsense").rollback_result or "")

    with WebhookServer() as hook:
        assert _report(engine, rollback=hook.url).rollback_result == "delivered"
        assert hook.received[0]["report"]["verdict"] == "roll back"


# -- shadow ----------------------------------------------------------------------------------


def test_shadow_runs_the_candidate_on_copies_without_touching_the_answer(memory: InMemoryRecorder) -> None:
    seen: list[dict[str, list[str]]] = []
    release = threading.Event()

    def candidate(question: str, context: dict[str, list[str]]) -> str:
        release.wait(5)
        context["docs"].append("mutated by candidate")
        seen.append(context)
        if question == "boom":
            raise RuntimeError("candidate failed")
        return f"v4: {question}"

    with shadow(candidate, name="v4") as shadowed:

        @llmmon.trace  # outside: the shadow call links to the live trace
        @shadowed
        def answer(question: str, context: dict[str, list[str]]) -> str:
            return f"v3: {question}"

        context = {"docs": ["kb-1"]}
        assert answer("price?", context) == "v3: price?"  # returned before the candidate ran
        assert answer("boom", {"docs": []}) == "v3: boom"
        release.set()
    assert context == {"docs": ["kb-1"]}  # the candidate got a copy
    assert shadowed.submitted == 2 and shadowed.failed == 1
    llmmon.flush()
    shadows = [s for s in memory.spans if s.name == "shadow:v4"]
    live = [s for s in memory.spans if s.name.endswith("answer")]
    assert len(shadows) == 2 and len(live) == 2
    assert {s.attributes["shadow_of_trace"] for s in shadows if s.attributes} == {s.trace_id for s in live}
    assert {s.status for s in shadows} == {"ok", "error"}
    assert all(s.trace_id not in {x.trace_id for x in live} for s in shadows)


def test_shadow_drops_copies_when_its_queue_is_full(memory: InMemoryRecorder) -> None:
    release = threading.Event()
    with shadow(lambda q: release.wait(5), max_workers=1, max_pending=2) as shadowed:
        live = shadowed(lambda q: q)
        assert [live(i) for i in range(5)] == [0, 1, 2, 3, 4]
        release.set()
    assert shadowed.submitted == 2 and shadowed.dropped == 3
