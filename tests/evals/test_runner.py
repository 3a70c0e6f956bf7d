"""The eval runner against real callables: errors, timeouts, retries, budget, interrupts, spans."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmmon
from llmmon.evals.runner import EvalRunner, RunOptions, StoredOutput, output_key
from llmmon.evals.suite import EvalSuite, load_suite
from llmmon.evals.targets import CallableEvalTarget, reply_from
from llmmon.evals.usage import SpanCollector
from llmmon.pricing import PriceTable
from llmmon.tracing.recorder import InMemoryRecorder
from tests.evals import fake_targets


@pytest.fixture
def collector() -> Iterator[SpanCollector]:
    memory = InMemoryRecorder()
    collector = SpanCollector(memory)
    llmmon.configure(recorder=collector)
    fake_targets.CALLS.clear()
    fake_targets.RELEASE.clear()
    yield collector
    fake_targets.RELEASE.set()
    llmmon.shutdown()


def _suite(tmp_path: Path, questions: list[str], *, extra: str = "") -> EvalSuite:
    cases = "\n".join(
        f"  - id: c{i}\n    input: {q!r}\n    assertions:\n      - {{type: contains, value: Answer}}"
        for i, q in enumerate(questions)
    )
    path = tmp_path / "suite.yaml"
    path.write_text(f"name: t\n{extra}cases:\n{cases}\n", encoding="utf-8")
    return load_suite(path)


def _run(suite: EvalSuite, fn: str, collector: SpanCollector, **options: object) -> object:
    runner = EvalRunner(
        suite,
        CallableEvalTarget(f"tests.evals.fake_targets:{fn}"),
        run_id="run-test",
        options=RunOptions(**{"concurrency": 2, "timeout_s": 5.0, "retries": 0, **options}),  # type: ignore[arg-type]
        collector=collector,
        prices=PriceTable.load(),
    )
    return runner.run()


def test_runner_target_that_raises_fails_those_cases_and_continues(tmp_path: Path, collector: SpanCollector) -> None:
    suite = _suite(tmp_path, ["one", "boom two", "three"])
    outcome = _run(suite, "fragile", collector)
    assert outcome.status == "complete"  # type: ignore[attr-defined]
    verdicts = {c.case_id: c.verdicts for c in outcome.results.cases}  # type: ignore[attr-defined]
    assert verdicts == {"c0": ("passed",), "c1": ("failed",), "c2": ("passed",)}
    failed = next(c for c in outcome.results.cases if c.case_id == "c1")  # type: ignore[attr-defined]
    assert failed.trials[0].error == "ValueError: cannot answer 'boom two'"
    assert failed.trials[0].infrastructure_error is None


def test_runner_hanging_target_times_out_and_fails_the_case(tmp_path: Path, collector: SpanCollector) -> None:
    suite = _suite(tmp_path, ["one", "hang here", "three"])
    started = time.perf_counter()
    outcome = _run(suite, "hangs", collector, timeout_s=0.3)
    assert time.perf_counter() - started < 5
    hung = next(c for c in outcome.results.cases if c.case_id == "c1")  # type: ignore[attr-defined]
    assert hung.trials[0].error == "timed out after 0.3s"
    assert hung.verdicts == ("failed",)
    assert [c.verdicts for c in outcome.results.cases if c.case_id != "c1"] == [("passed",), ("passed",)]  # type: ignore[attr-defined]


def test_runner_keyboard_interrupt_keeps_finished_trials(tmp_path: Path, collector: SpanCollector) -> None:
    suite = _suite(tmp_path, [f"q{i}" for i in range(6)])
    outcome = _run(suite, "interrupted", collector, concurrency=1)
    assert outcome.status == "aborted"  # type: ignore[attr-defined]
    assert "KeyboardInterrupt" in outcome.stop_reason  # type: ignore[attr-defined]
    assert [c.case_id for c in outcome.results.cases] == ["c0", "c1"]  # type: ignore[attr-defined]
    assert outcome.results.incomplete  # type: ignore[attr-defined]
    assert len(fake_targets.CALLS) == 3  # nothing was called after the interrupt


def test_runner_budget_stops_cleanly_and_marks_incomplete(tmp_path: Path, collector: SpanCollector) -> None:
    suite = _suite(tmp_path, [f"q{i}" for i in range(10)])
    per_call = PriceTable.load().cost_usd("gpt-4o-mini", input_tokens=1_000_000, output_tokens=10)
    assert per_call is not None and per_call > 0
    outcome = _run(suite, "costly", collector, concurrency=1, budget_usd=per_call * 2.5)
    assert outcome.status == "incomplete"  # type: ignore[attr-defined]
    assert "budget exceeded" in outcome.stop_reason  # type: ignore[attr-defined]
    assert len(outcome.trials) == 3  # type: ignore[attr-defined]
    assert outcome.results.chatbot_cost_usd == pytest.approx(per_call * 3)  # type: ignore[attr-defined]


def test_runner_unreachable_target_is_retried_then_unscored(tmp_path: Path, collector: SpanCollector) -> None:
    suite = _suite(tmp_path, ["one", "two"])
    outcome = _run(suite, "unreachable", collector, retries=2, retry_backoff_s=0.01)
    assert len(fake_targets.CALLS) == 6  # 1 call + 2 retries per case
    assert [c.verdicts for c in outcome.results.cases] == [("unscored",), ("unscored",)]  # type: ignore[attr-defined]
    assert outcome.results.infrastructure_errors == ("target unreachable: ConnectError: connection refused",)  # type: ignore[attr-defined]


def test_runner_async_target_and_spans_tagged_with_run_id(tmp_path: Path, collector: SpanCollector) -> None:
    suite = _suite(tmp_path, ["one", "two"], extra="repeats: 2\n")
    outcome = _run(suite, "async_echo", collector, repeats=2)
    assert [c.verdicts for c in outcome.results.cases] == [("passed", "passed")] * 2  # type: ignore[attr-defined]
    memory = collector.inner
    assert isinstance(memory, InMemoryRecorder)
    roots = memory.by_name("eval.case")
    assert len(roots) == 4
    assert {r.attributes["eval.run_id"] for r in roots if r.attributes} == {"run-test"}
    assert {t.trace_id for t in outcome.trials} == {r.trace_id for r in roots}  # type: ignore[attr-defined]
    assert all(t.result.observation.latency_ms is not None for t in outcome.trials)  # type: ignore[attr-defined]


def test_runner_usage_and_cost_come_from_llm_spans(tmp_path: Path, collector: SpanCollector) -> None:
    import httpx
    from openai import OpenAI

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "id": "c1", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Answer: 9am"}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            },
        )  # fmt: skip

    http_client = httpx.Client(transport=httpx.MockTransport(handler))
    client = llmmon.wrap_openai(OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1", http_client=http_client))

    class Target:
        label = fingerprint = "wrapped"
        is_async = False

        def call(self, case: object) -> object:
            return reply_from(client.chat.completions.create(model="gpt-4o-mini", messages=[]))

        async def acall(self, case: object) -> object:
            raise NotImplementedError

        def close(self) -> None:
            client.close()

    suite = _suite(tmp_path, ["one"])
    runner = EvalRunner(
        suite,
        Target(),
        run_id="r",
        options=RunOptions(retries=0),
        collector=collector,
        prices=PriceTable.load(),  # type: ignore[arg-type]
    )
    outcome = runner.run()
    http_client.close()
    observation = outcome.trials[0].result.observation
    assert observation is not None
    assert (observation.input_tokens, observation.output_tokens, observation.total_tokens) == (100, 20, 120)
    expected = PriceTable.load().cost_usd("gpt-4o-mini", input_tokens=100, output_tokens=20)
    assert observation.cost_usd == pytest.approx(expected)
    assert outcome.results.chatbot_cost_usd == pytest.approx(expected)


def test_runner_stored_outputs_are_rescored_without_calling_the_target(
    tmp_path: Path, collector: SpanCollector
) -> None:
    suite = _suite(tmp_path, ["one", "two"])
    target = CallableEvalTarget("tests.evals.fake_targets:echo")
    stored = {output_key(suite.cases[0], target.fingerprint, 0): StoredOutput(output="Answer kept")}
    runner = EvalRunner(suite, None, run_id="r", target_fingerprint=target.fingerprint, stored_outputs=stored)
    outcome = runner.run()
    assert fake_targets.CALLS == []
    assert [(t.case.id, t.reused) for t in outcome.trials] == [("c0", True)]
    assert outcome.trials[0].result.verdict == "passed"
