"""The HTTP endpoint target against a real HTTP server on 127.0.0.1: success, 500, timeout, wrong shape."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

import llmmon
from llmmon.cli import app
from llmmon.evals.runner import EvalRunner, RunOptions, RunOutcome
from llmmon.evals.suite import EvalSuite, HttpTarget, load_suite
from llmmon.evals.targets import build_target
from llmmon.evals.usage import SpanCollector
from llmmon.storage.engine import make_engine
from llmmon.storage.models.evals import EvalResult, EvalRun
from llmmon.tracing.recorder import InMemoryRecorder
from tests.evals.http_server import ChatServer


@pytest.fixture
def server() -> Iterator[ChatServer]:
    chat = ChatServer().start()
    yield chat
    chat.stop()


@pytest.fixture
def collector() -> Iterator[SpanCollector]:
    collector = SpanCollector(InMemoryRecorder())
    llmmon.configure(recorder=collector)
    yield collector
    llmmon.shutdown()


def _suite(tmp_path: Path, url: str, questions: dict[str, str], *, response_field: str = "data.answer") -> EvalSuite:
    cases = "\n".join(
        f"  - id: {case_id}\n    input: {question!r}\n    variables: {{shop: Acme}}\n"
        "    assertions:\n      - {type: contains, value: Answer}"
        for case_id, question in questions.items()
    )
    path = tmp_path / "http.yaml"
    path.write_text(
        f"name: http-suite\ntarget: {{type: http, url: '{url}', response_field: {response_field}}}\ncases:\n{cases}\n",
        encoding="utf-8",
    )
    return load_suite(path)


def _run(suite: EvalSuite, collector: SpanCollector, **options: float | int) -> RunOutcome:
    values: dict[str, float | int] = {"concurrency": 2, "timeout_s": 5.0, "retries": 2, "retry_backoff_s": 0.01}
    values.update(options)
    target = build_target(suite.target, timeout=float(values["timeout_s"]))
    try:
        runner = EvalRunner(
            suite,
            target,
            run_id="run-http",
            options=RunOptions(**values),
            collector=collector,  # type: ignore[arg-type]
        )
        return runner.run()
    finally:
        target.close()


def _trial(outcome: RunOutcome, case_id: str) -> tuple[str, str | None, str | None]:
    case = next(c for c in outcome.results.cases if c.case_id == case_id)
    trial = case.trials[0]
    return case.verdicts[0], trial.error, trial.infrastructure_error


def test_http_target_answers_from_the_configured_field(
    tmp_path: Path, server: ChatServer, collector: SpanCollector
) -> None:
    suite = _suite(tmp_path, server.url, {"ok": "When do you open?"})
    outcome = _run(suite, collector)
    assert _trial(outcome, "ok") == ("passed", None, None)
    observation = outcome.results.cases[0].trials[0].observation
    assert observation is not None and observation.output == "Answer to When do you open?"
    assert server.requests == [{"question": "When do you open?", "variables": {"shop": "Acme"}}]
    assert outcome.trials[0].trace_id  # the call ran in a traced eval.case span


def test_http_target_500_is_retried_then_the_case_fails_with_the_error(
    tmp_path: Path, server: ChatServer, collector: SpanCollector
) -> None:
    suite = _suite(tmp_path, server.url, {"ok": "hours?", "crash": "boom please"})
    outcome = _run(suite, collector, retries=2)
    assert [r["question"] for r in server.requests].count("boom please") == 3  # 1 call + 2 retries
    verdict, error, infra = _trial(outcome, "crash")
    assert verdict == "failed" and infra is None
    assert error is not None and error.startswith("HTTPStatusError: HTTP 500 Internal Server Error from POST ")
    assert server.url in error and "model backend crashed" in error
    assert _trial(outcome, "ok") == ("passed", None, None)
    assert outcome.status == "complete" and outcome.results.infrastructure_errors == ()


def test_http_target_that_is_too_slow_times_out_and_fails_the_case(
    tmp_path: Path, server: ChatServer, collector: SpanCollector
) -> None:
    suite = _suite(tmp_path, server.url, {"ok": "hours?", "stuck": "slow one"})
    started = time.perf_counter()
    outcome = _run(suite, collector, timeout_s=0.5)
    assert time.perf_counter() - started < 4
    assert _trial(outcome, "stuck") == ("failed", "timed out after 0.5s", None)
    assert [r["question"] for r in server.requests].count("slow one") == 1  # a timeout is not retried
    assert _trial(outcome, "ok") == ("passed", None, None)


def test_http_target_missing_response_field_names_the_field_and_what_is_there(
    tmp_path: Path, server: ChatServer, collector: SpanCollector
) -> None:
    suite = _suite(tmp_path, server.url, {"odd": "shape of reply"})
    outcome = _run(suite, collector)
    verdict, error, infra = _trial(outcome, "odd")
    assert verdict == "failed" and infra is None
    assert error == (
        "TargetResponseError: the response has no field 'data.answer': no 'answer' at data "
        "(fields there: reply); set the target's response_field"
    )
    assert len(server.requests) == 1  # a wrong shape is not retried


def test_http_target_unreachable_is_an_infrastructure_error(tmp_path: Path, collector: SpanCollector) -> None:
    closed = ChatServer()  # bound, then closed without serving: nothing listens on the port
    url = closed.url
    closed._server.server_close()
    suite = _suite(tmp_path, url, {"a": "hours?"})
    outcome = _run(suite, collector, retries=1)
    verdict, error, infra = _trial(outcome, "a")
    assert verdict == "unscored" and error is None
    assert infra is not None and infra.startswith("target unreachable: ConnectError")


def test_http_target_through_the_cli_stores_rows(tmp_path: Path, server: ChatServer, db_url: str) -> None:
    suite = _suite(tmp_path, server.url, {"ok": "hours?", "crash": "boom", "odd": "shape"})
    result = CliRunner().invoke(app, ["eval", "run", str(suite.path), "--db", db_url, "--timeout-s", "5"])
    assert result.exit_code == 0, result.output  # no baseline, no must_pass: reported, not blocking
    engine: Engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            run = session.exec(select(EvalRun)).one()
            rows = {r.case_id: r for r in session.exec(select(EvalResult))}
    finally:
        engine.dispose()
    assert run.target_label == server.url and run.status == "complete" and (run.passed, run.failed) == (1, 2)
    assert rows["ok"].verdict == "passed" and rows["ok"].output == "Answer to hours?"
    assert "HTTP 500" in (rows["crash"].error or "") and "no field 'data.answer'" in (rows["odd"].error or "")
    assert json.loads(rows["ok"].scores)[0]["passed"] is True
    assert HttpTarget(type="http", url=server.url).response_field == "answer"  # the default field
