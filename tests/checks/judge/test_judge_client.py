"""JudgeClient through the real openai SDK: schema output, retries, repair, cache, limits, spans, secrets."""

from __future__ import annotations

import email.utils
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from llmmon.checks.judge import JudgeClient, load_judge_prompt
from llmmon.checks.scorers import RelevanceScorer
from llmmon.config import Settings
from llmmon.errors import ConfigError, JudgeOutputError, JudgeTransportError
from llmmon.prompts import Prompt
from llmmon.storage.models.judge import JudgeCacheEntry
from llmmon.tracing.context import activate, deactivate, finish_span, new_span
from llmmon.tracing.recorder import InMemoryRecorder
from tests.checks.judge.conftest import SleepLog
from tests.checks.judge.recorded import SECRET_KEY, ScriptedEndpoint, error, ok
from tests.support.net import free_port

GOOD = {"reason": "It answers the opening-hours question directly.", "score": 5}
INPUTS = {"question": "When do you open on Saturday?", "answer": "We open at 10:00 on Saturdays."}

MakeJudge = Callable[..., JudgeClient]


@pytest.fixture
def relevance() -> Prompt:
    return load_judge_prompt("judge/relevance")


@pytest.fixture
def make_judge(sleeps: SleepLog) -> Iterator[MakeJudge]:
    """Build judges on scripted endpoints; their httpx clients are closed after the test."""
    clients: list[httpx.Client] = []

    def build(endpoint: ScriptedEndpoint | None = None, **options: Any) -> JudgeClient:
        http_client = endpoint.client() if endpoint is not None else options.pop("http_client", None)
        if http_client is not None:
            clients.append(http_client)
        options.setdefault("base_url", "http://judge.test/v1")
        options.setdefault("model", "gpt-4o-mini")
        options.setdefault("api_key", SECRET_KEY)
        options.setdefault("sleep", sleeps)
        base_url, model, api_key = options.pop("base_url"), options.pop("model"), options.pop("api_key")
        return JudgeClient(base_url, model, api_key, http_client=http_client, **options)

    yield build
    for client in clients:
        client.close()


def test_judge_returns_schema_valid_output_with_json_schema_constraint(
    make_judge: MakeJudge, relevance: Prompt
) -> None:
    endpoint = ScriptedEndpoint(ok(GOOD, prompt_tokens=150, completion_tokens=20))
    result = make_judge(endpoint).complete(relevance, INPUTS)

    assert result.output == GOOD
    assert result.usage == {"input_tokens": 150, "output_tokens": 20, "total_tokens": 170}
    assert (result.attempts, result.cached, result.repaired) == (1, False, False)
    assert (result.prompt_name, result.prompt_version, result.prompt_hash) == (
        "judge/relevance",
        relevance.version,
        relevance.hash,
    )
    body = endpoint.bodies[0]
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == relevance.output_schema
    assert INPUTS["answer"] in body["messages"][-1]["content"]
    assert endpoint.requests[0].headers["authorization"] == f"Bearer {SECRET_KEY}"


def test_judge_accepts_json_inside_a_markdown_fence(make_judge: MakeJudge, relevance: Prompt) -> None:
    endpoint = ScriptedEndpoint(ok("```json\n" + json.dumps(GOOD) + "\n```"))
    assert make_judge(endpoint).complete(relevance, INPUTS).output == GOOD


def test_judge_endpoint_down_is_unscored_after_retries(make_judge: MakeJudge, sleeps: SleepLog) -> None:
    # A real refused connection: nothing listens on this port.
    judge = make_judge(
        base_url=f"http://127.0.0.1:{free_port()}/v1", http_client=httpx.Client(), max_retries=2
    )
    score = RelevanceScorer(judge).score(**INPUTS)

    assert (score.status, score.value, score.passed) == ("unscored", None, None)
    assert score.error is not None and "cannot connect" in score.error and "3 call(s)" in score.error
    assert len(sleeps.delays) == 2


def test_judge_slow_endpoint_times_out_and_is_unscored(make_judge: MakeJudge) -> None:
    # A real server that accepts the connection and never answers.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        port = listener.getsockname()[1]
        judge = make_judge(
            base_url=f"http://127.0.0.1:{port}/v1", http_client=httpx.Client(), timeout=0.3, max_retries=1
        )
        started = time.perf_counter()
        score = RelevanceScorer(judge).score(**INPUTS)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()

    assert score.status == "unscored"
    assert score.error is not None and "timed out after 0.3s" in score.error
    assert len(accepted) == 2  # the first call and one retry
    assert 0.6 <= elapsed < 5


def test_judge_read_timeout_is_retried_then_succeeds(make_judge: MakeJudge, relevance: Prompt) -> None:
    endpoint = ScriptedEndpoint(httpx.ReadTimeout("read timed out"), ok(GOOD))
    result = make_judge(endpoint, max_retries=1).complete(relevance, INPUTS)
    assert result.output == GOOD and result.attempts == 2


def test_judge_retries_500_with_exponential_backoff_then_succeeds(
    make_judge: MakeJudge, relevance: Prompt, sleeps: SleepLog
) -> None:
    endpoint = ScriptedEndpoint(error(500), error(502), ok(GOOD))
    result = make_judge(endpoint, backoff_base_s=1.0).complete(relevance, INPUTS)

    assert result.output == GOOD and result.attempts == 3
    first, second = sleeps.delays
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0  # base * 2**attempt, with jitter in [50%, 100%]


def test_judge_honours_retry_after_on_429(make_judge: MakeJudge, relevance: Prompt, sleeps: SleepLog) -> None:
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    endpoint = ScriptedEndpoint(
        error(429, headers={"retry-after": "2"}),
        error(429, headers={"retry-after-ms": "250"}),
        error(429, headers={"retry-after": later}),
        ok(GOOD),
    )
    result = make_judge(endpoint, max_retries=3).complete(relevance, INPUTS)

    assert result.attempts == 4
    assert sleeps.delays[:2] == [2.0, 0.25]
    assert 25 <= sleeps.delays[2] <= 30


def test_judge_caps_a_huge_retry_after(make_judge: MakeJudge, relevance: Prompt, sleeps: SleepLog) -> None:
    endpoint = ScriptedEndpoint(error(429, headers={"retry-after": "3600"}), ok(GOOD))
    make_judge(endpoint, retry_after_max_s=10).complete(relevance, INPUTS)
    assert sleeps.delays == [10]


def test_judge_gives_up_after_max_retries(make_judge: MakeJudge, relevance: Prompt) -> None:
    endpoint = ScriptedEndpoint(error(503), repeat_last=True)
    with pytest.raises(JudgeTransportError, match=r"HTTP 503.*overloaded") as caught:
        make_judge(endpoint, max_retries=2).complete(relevance, INPUTS)
    assert len(endpoint.requests) == 3
    assert isinstance(caught.value.request, httpx.Request)


def test_judge_does_not_retry_a_client_error(make_judge: MakeJudge, relevance: Prompt) -> None:
    endpoint = ScriptedEndpoint(error(401), repeat_last=True)
    with pytest.raises(JudgeTransportError, match="HTTP 401"):
        make_judge(endpoint).complete(relevance, INPUTS)
    assert len(endpoint.requests) == 1


def test_judge_drops_response_format_the_endpoint_rejects(make_judge: MakeJudge, relevance: Prompt) -> None:
    endpoint = ScriptedEndpoint(error(400), ok(GOOD), ok(GOOD))
    judge = make_judge(endpoint)
    judge.complete(relevance, INPUTS)
    judge.complete(relevance, {**INPUTS, "answer": "Saturdays from ten."})

    first, second, third = endpoint.bodies
    assert "response_format" in first
    assert "response_format" not in second and "response_format" not in third


def test_judge_repairs_prose_once(make_judge: MakeJudge, relevance: Prompt) -> None:
    prose = "The answer is relevant, I would give it a 5."
    endpoint = ScriptedEndpoint(ok(prose, completion_tokens=12), ok(GOOD, completion_tokens=20))
    result = make_judge(endpoint).complete(relevance, INPUTS)

    assert result.output == GOOD and result.repaired and result.attempts == 2
    assert result.usage["output_tokens"] == 32  # both turns are paid for
    repair = endpoint.bodies[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": prose}
    assert "not valid JSON" in repair[-1]["content"] and '"score"' in repair[-1]["content"]


def test_judge_prose_twice_is_unscored_with_the_raw_text(make_judge: MakeJudge, relevance: Prompt) -> None:
    endpoint = ScriptedEndpoint(ok("Looks relevant to me."), ok("Still prose, sorry."), ok(GOOD))
    judge = make_judge(endpoint)
    with pytest.raises(JudgeOutputError, match="not valid JSON") as caught:
        judge.complete(relevance, INPUTS)
    assert caught.value.raw_text == "Still prose, sorry."
    assert len(endpoint.requests) == 2

    score = RelevanceScorer(make_judge(ScriptedEndpoint(ok("prose"), ok("prose")))).score(**INPUTS)
    assert (score.status, score.passed, score.value) == ("unscored", None, None)
    assert score.error is not None and "not valid JSON" in score.error


def test_judge_json_with_wrong_fields_is_unscored(make_judge: MakeJudge) -> None:
    wrong = {"verdict": "relevant", "confidence": 0.9}
    endpoint = ScriptedEndpoint(ok(wrong), ok({"reason": "ok", "score": 9}))
    score = RelevanceScorer(make_judge(endpoint)).score(**INPUTS)

    assert score.status == "unscored"
    assert (
        score.error is not None
        and "score" in score.error
        and "9 is greater than the maximum of 5" in score.error
    )
    assert "does not match the schema" in endpoint.bodies[1]["messages"][-1]["content"]


def test_judge_cache_hit_makes_no_http_call(make_judge: MakeJudge, relevance: Prompt, engine: Engine) -> None:
    first = ScriptedEndpoint(ok(GOOD, prompt_tokens=100, completion_tokens=10))
    stored = make_judge(first, cache_engine=engine).complete(relevance, INPUTS)
    assert not stored.cached

    again = ScriptedEndpoint()  # any request would be "unexpected"
    hit = make_judge(again, cache_engine=engine).complete(relevance, dict(reversed(list(INPUTS.items()))))
    assert hit.cached and hit.output == GOOD and hit.attempts == 0
    assert again.requests == []

    with Session(engine) as session:
        (entry,) = session.exec(select(JudgeCacheEntry)).all()
    assert (entry.prompt_name, entry.prompt_version, entry.prompt_hash, entry.model) == (
        "judge/relevance",
        relevance.version,
        relevance.hash,
        "gpt-4o-mini",
    )
    assert json.loads(entry.output) == GOOD and entry.input_tokens == 100
    assert entry.created_at.tzinfo is not None


def test_judge_cache_misses_for_other_inputs_or_model(
    make_judge: MakeJudge, relevance: Prompt, engine: Engine
) -> None:
    make_judge(ScriptedEndpoint(ok(GOOD)), cache_engine=engine).complete(relevance, INPUTS)

    other_answer = ScriptedEndpoint(ok(GOOD))
    make_judge(other_answer, cache_engine=engine).complete(relevance, {**INPUTS, "answer": "Ten o'clock."})
    other_model = ScriptedEndpoint(ok(GOOD))
    make_judge(other_model, cache_engine=engine, model="gpt-4.1-mini").complete(relevance, INPUTS)

    assert len(other_answer.requests) == 1 and len(other_model.requests) == 1


def test_judge_failures_are_not_cached(make_judge: MakeJudge, relevance: Prompt, engine: Engine) -> None:
    with pytest.raises(JudgeOutputError):
        make_judge(ScriptedEndpoint(ok("prose"), ok("prose")), cache_engine=engine).complete(
            relevance, INPUTS
        )
    retry = ScriptedEndpoint(ok(GOOD))
    assert make_judge(retry, cache_engine=engine).complete(relevance, INPUTS).output == GOOD
    assert len(retry.requests) == 1


def test_judge_without_a_migrated_cache_still_judges(
    make_judge: MakeJudge, relevance: Prompt, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from llmmon.storage.engine import make_engine

    empty = make_engine(sqlite_url)  # no migrations: the cache table does not exist
    try:
        endpoint = ScriptedEndpoint(ok(GOOD), ok(GOOD))
        judge = make_judge(endpoint, cache_engine=empty)
        with caplog.at_level(logging.WARNING, logger="llmmon.judge"):
            assert judge.complete(relevance, INPUTS).output == GOOD
            assert judge.complete(relevance, INPUTS).output == GOOD
    finally:
        empty.dispose()
    assert len(endpoint.requests) == 2
    assert caplog.text.count("judge cache disabled") == 1


def _tracking_endpoint(delay: float) -> tuple[ScriptedEndpoint, dict[str, int]]:
    state = {"in_flight": 0, "peak": 0}
    lock = threading.Lock()

    def slow_ok(_request: httpx.Request) -> httpx.Response:
        with lock:
            state["in_flight"] += 1
            state["peak"] = max(state["peak"], state["in_flight"])
        time.sleep(delay)
        with lock:
            state["in_flight"] -= 1
        return ok(GOOD)

    return ScriptedEndpoint(slow_ok, repeat_last=True), state


def test_judge_concurrency_limit_holds_across_caller_threads(
    make_judge: MakeJudge, relevance: Prompt
) -> None:
    endpoint, state = _tracking_endpoint(0.05)
    judge = make_judge(endpoint, max_concurrency=2)
    threads = [
        threading.Thread(target=judge.complete, args=(relevance, {**INPUTS, "answer": f"Answer {n}"}))
        for n in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(endpoint.requests) == 8
    assert state["peak"] == 2


def test_judge_complete_many_runs_in_parallel_within_the_limit(
    make_judge: MakeJudge, relevance: Prompt
) -> None:
    endpoint, state = _tracking_endpoint(0.05)
    judge = make_judge(endpoint, max_concurrency=3)
    results = judge.complete_many(relevance, [{**INPUTS, "answer": f"Answer {n}"} for n in range(9)])
    assert [result.output for result in results if not isinstance(result, Exception)] == [GOOD] * 9
    assert state["peak"] == 3


def test_judge_complete_many_returns_failures_in_place(make_judge: MakeJudge, relevance: Prompt) -> None:
    def by_answer(request: httpx.Request) -> httpx.Response:
        return error(401) if "bad" in request.content.decode() else ok(GOOD)

    judge = make_judge(ScriptedEndpoint(by_answer, repeat_last=True), max_concurrency=2)
    results = judge.complete_many(relevance, [INPUTS, {**INPUTS, "answer": "bad"}, INPUTS])
    assert isinstance(results[1], JudgeTransportError)
    assert not isinstance(results[0], Exception) and not isinstance(results[2], Exception)


def test_judge_spans_are_eval_tagged_and_nest_under_the_caller(
    make_judge: MakeJudge, relevance: Prompt, spans: InMemoryRecorder
) -> None:
    judge = make_judge(ScriptedEndpoint(ok(GOOD, prompt_tokens=150, completion_tokens=20)))
    app = new_span("answer_question", kind="llm")
    assert app is not None
    app.model = "gpt-4o"
    app.set_usage(input_tokens=900, output_tokens=300)
    token = activate(app)
    try:
        judge.complete(relevance, INPUTS)
    finally:
        deactivate(token)
        finish_span(app)

    judge_span, app_span = spans.spans
    assert app_span is app and not app_span.is_eval and app_span.prompt_name is None
    assert judge_span.is_eval and judge_span.kind == "llm"
    assert judge_span.tags == ["eval", "judge"]
    assert judge_span.parent_span_id == app.span_id and judge_span.trace_id == app.trace_id
    assert judge_span.model == "gpt-4o-mini"
    assert judge_span.usage == {"input_tokens": 150, "output_tokens": 20, "total_tokens": 170}
    assert (judge_span.prompt_name, judge_span.prompt_hash) == ("judge/relevance", relevance.hash)
    assert judge_span.latency_ms is not None and judge_span.latency_ms > 0
    app_tokens = sum((s.usage or {}).get("input_tokens", 0) for s in spans.spans if not s.is_eval)
    assert app_tokens == 900  # the judge's 150 input tokens are not the app's


def test_judge_failure_span_is_an_eval_error_with_zero_usage(
    make_judge: MakeJudge, relevance: Prompt, spans: InMemoryRecorder
) -> None:
    with pytest.raises(JudgeTransportError):
        make_judge(ScriptedEndpoint(error(401))).complete(relevance, INPUTS)
    (span,) = spans.spans
    assert span.is_eval and span.status == "error" and span.error_type == "JudgeTransportError"
    # Zero, not missing: a missing usage would make the writer estimate tokens for a call that never ran.
    assert span.usage == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


def test_judge_cache_hit_span_costs_nothing(
    make_judge: MakeJudge, relevance: Prompt, engine: Engine, spans: InMemoryRecorder
) -> None:
    make_judge(ScriptedEndpoint(ok(GOOD)), cache_engine=engine).complete(relevance, INPUTS)
    make_judge(ScriptedEndpoint(), cache_engine=engine).complete(relevance, INPUTS)
    miss, hit = spans.spans
    assert (miss.attributes or {})["judge.cache_hit"] is False
    assert (hit.attributes or {})["judge.cache_hit"] is True
    assert hit.usage == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0} and hit.is_eval


def test_judge_never_logs_or_shows_the_api_key(
    make_judge: MakeJudge, relevance: Prompt, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = ScriptedEndpoint(error(500), ok("prose"), ok(GOOD), error(401))
    judge = make_judge(endpoint)
    with caplog.at_level(logging.DEBUG):  # every logger, including the openai SDK's and httpx's
        judge.complete(relevance, INPUTS)
        with pytest.raises(JudgeTransportError) as caught:
            judge.complete(relevance, {**INPUTS, "answer": "other"})
    assert len(endpoint.requests) == 4
    assert caplog.records  # the retry and the repair were logged
    assert SECRET_KEY not in caplog.text
    assert SECRET_KEY not in repr(judge) and SECRET_KEY not in str(caught.value)


def test_judge_from_settings_uses_the_secret_key(make_judge: MakeJudge, relevance: Prompt) -> None:
    settings = Settings(
        judge_base_url="http://judge.test/v1", judge_model="gpt-4o-mini", judge_api_key=SECRET_KEY
    )
    endpoint = ScriptedEndpoint(ok(GOOD))
    with endpoint.client() as http_client:
        judge = JudgeClient.from_settings(settings, http_client=http_client)
        judge.complete(relevance, INPUTS)
    assert endpoint.requests[0].headers["authorization"] == f"Bearer {SECRET_KEY}"
    assert str(endpoint.requests[0].url) == "http://judge.test/v1/chat/completions"


def test_judge_from_settings_without_a_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="LLMMON_JUDGE_MODEL"):
        JudgeClient.from_settings(Settings(judge_base_url="http://judge.test/v1"))


def test_judge_cost_is_stored_as_eval_and_kept_out_of_app_cost(
    make_judge: MakeJudge, relevance: Prompt, engine: Engine, tmp_path: Path
) -> None:
    import llmmon
    from llmmon.storage.models.tracing import Span
    from llmmon.storage.repo import span_stats

    # The real recorder and writer thread into the migrated database (the autouse fixture shuts it down).
    llmmon.configure(
        database_url=engine.url.render_as_string(hide_password=False), spool_dir=tmp_path / "spool"
    )
    judge = make_judge(ScriptedEndpoint(ok(GOOD, prompt_tokens=150_000, completion_tokens=20_000)))
    with llmmon.span("answer_question", kind="llm") as app:
        app.model = "gpt-4o"
        app.set_usage(input_tokens=1_000, output_tokens=500)
        judge.complete(relevance, INPUTS)
    assert llmmon.flush().pending == 0

    with Session(engine) as session:
        rows = {row.name: row for row in session.exec(select(Span)).all()}
    app_row, judge_row = rows["answer_question"], rows["judge/relevance"]
    assert judge_row.is_eval and json.loads(judge_row.tags or "[]") == ["eval", "judge"]
    assert not app_row.is_eval and judge_row.trace_id == app_row.trace_id
    assert judge_row.cost_usd is not None and judge_row.cost_usd > 0  # the judge's cost is recorded...
    assert app_row.cost_usd is not None and app_row.cost_usd > 0
    by_model = {row.key: row for row in span_stats(engine, group_by="model")}
    assert set(by_model) == {"gpt-4o"}  # ...but never reported as the app's
    assert by_model["gpt-4o"].cost_usd == pytest.approx(app_row.cost_usd)
    (per_day,) = span_stats(engine, group_by="day")
    assert per_day.cost_usd == pytest.approx(app_row.cost_usd) and per_day.input_tokens == 1_000
