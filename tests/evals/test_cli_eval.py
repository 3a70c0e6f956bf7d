"""`llmmon eval` end to end through the CLI: exit codes AND the rows stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from llmmon.cli import app
from llmmon.cli.eval import RunRequest, execute_run
from llmmon.storage.engine import make_engine
from llmmon.storage.models.evals import EvalResult, EvalRun
from tests.evals import fake_targets

SUITE = """\
name: cli-suite
target: tests.evals.fake_targets:{target}
{extra}cases:
  - id: price
    input: How much is the charger?
    must_pass: {must_pass}
    assertions:
      - {{type: contains, value: "$49"}}
{more}
"""


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    for name in ("LLMMON_JUDGE_MODEL", "LLMMON_JUDGE_BASE_URL", "LLMMON_JUDGE_API_KEY", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)
    fake_targets.CALLS.clear()
    fake_targets.RELEASE.clear()
    fake_targets.WRONG_PRICES.clear()
    yield
    fake_targets.RELEASE.set()


def _write_suite(tmp_path: Path, *, target: str = "prices_vary", extra: str = "", must_pass: bool = False,
                 cases: int = 12) -> Path:  # fmt: skip
    more = "\n".join(
        f"  - id: q{i}\n    input: Question {i}?\n    assertions:\n      - {{type: contains, value: charger}}"
        for i in range(cases)
    )
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE.format(target=target, extra=extra, must_pass=str(must_pass).lower(), more=more), "utf-8")
    return path


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["eval", *args])
    return result.exit_code, result.output


def _rows(db: Path | str) -> tuple[list[EvalRun], list[EvalResult]]:
    """The stored runs and results; ``db`` is a SQLite file or a database URL (the ``db_url`` fixture)."""
    engine: Engine = make_engine(db if isinstance(db, str) else f"sqlite:///{db}")
    try:
        with Session(engine) as session:
            runs = list(session.exec(select(EvalRun).order_by(EvalRun.started_at)))  # type: ignore[arg-type]
            results = list(session.exec(select(EvalResult).order_by(EvalResult.id)))  # type: ignore[arg-type]
            return runs, results
    finally:
        engine.dispose()


def test_eval_run_without_baseline_reports_absolute_results_and_how_to_promote(tmp_path: Path, db_url: str) -> None:
    suite, db = _write_suite(tmp_path), db_url  # SQLite and PostgreSQL
    code, output = _invoke("run", str(suite), "--db", db, "--label", "v1")
    assert code == 0, output
    assert "no baseline for this suite" in output and "llmmon eval promote run-" in output
    runs, results = _rows(db)
    assert [(r.status, r.decision, r.label, r.is_baseline, r.passed) for r in runs] == [
        ("complete", "pass", "v1", False, 13)
    ]
    assert len(results) == 13 and {r.verdict for r in results} == {"passed"}
    assert all(r.trace_id and r.latency_ms is not None for r in results)
    assert json.loads(runs[0].case_hashes).keys() == {"price", *(f"q{i}" for i in range(12))}


def test_eval_no_baseline_must_pass_failure_exits_1(tmp_path: Path) -> None:
    suite, db = _write_suite(tmp_path, must_pass=True), tmp_path / "e.db"
    fake_targets.WRONG_PRICES.set()
    code, output = _invoke("run", str(suite), "--db", str(db))
    assert code == 1, output
    assert "must_pass case(s) failed: price" in output
    runs, results = _rows(db)
    assert runs[0].decision == "regression" and runs[0].exit_code == 1
    assert next(r for r in results if r.case_id == "price").verdict == "failed"


def test_eval_promote_then_regression_names_the_failing_case(tmp_path: Path, db_url: str) -> None:
    suite, db = _write_suite(tmp_path, extra="gate: {thresholds: {pass: 0.99}}\n"), db_url  # SQLite and PostgreSQL
    code, output = _invoke("run", str(suite), "--db", db, "--promote-on-pass")
    assert code == 0, output
    assert "promoted run-" in output
    fake_targets.WRONG_PRICES.set()
    code, output = _invoke("run", str(suite), "--db", db, "--label", "v2")
    assert code == 1, output
    assert "newly failing: price" in output
    runs, _ = _rows(db)
    assert [(r.is_baseline, r.decision) for r in runs] == [(True, "pass"), (False, "regression")]
    code, output = _invoke("compare", runs[0].id, runs[1].id, "--db", db, "--suite", str(suite))
    assert code == 1 and "newly failing: price" in output
    code, output = _invoke("list", "--db", db)
    assert code == 0 and runs[1].id in output
    code, output = _invoke("promote", runs[1].id, "--db", db)  # a later run can be promoted by id
    assert code == 0 and f"{runs[1].id} is now the baseline of cli-suite" in output
    runs, _ = _rows(db)
    assert [r.is_baseline for r in runs] == [False, True]  # the previous baseline was demoted


def test_eval_typo_in_assertion_type_exits_2_naming_file_line_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\ntarget: tests.evals.fake_targets:echo\ncases:\n  - id: a\n    input: hi\n"
        "    assertions:\n      - {type: contians, value: x}\n",
        encoding="utf-8",
    )
    code, output = _invoke("run", str(path), "--db", str(tmp_path / "e.db"))
    assert code == 2
    assert f"{path}:7" in output and "cases[0].assertions[0]" in output and "contains" in output
    assert not (tmp_path / "e.db").exists()


def test_eval_missing_field_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ncases:\n  - id: a\n    assertions: []\n", encoding="utf-8")
    code, output = _invoke("run", str(path), "--db", str(tmp_path / "e.db"))
    assert code == 2
    assert f"{path}:3" in output and "input" in output


def test_eval_import_path_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    suite = _write_suite(tmp_path, target="no_such_function")
    code, output = _invoke("run", str(suite), "--db", str(tmp_path / "e.db"))
    assert code == 2
    assert "target.function" in output and "no attribute 'no_such_function'" in output
    code, output = _invoke("run", str(suite), "--target", "nopkg.nomod:fn", "--db", str(tmp_path / "e.db"))
    assert code == 2 and "no module named 'nopkg'" in output


def test_eval_budget_exceeded_stores_incomplete_run(tmp_path: Path) -> None:
    suite, db = _write_suite(tmp_path, target="costly", extra="concurrency: 1\n"), tmp_path / "e.db"
    code, output = _invoke("run", str(suite), "--db", str(db), "--budget-usd", "0.4")
    assert code == 4, output  # an incomplete run can never pass
    runs, results = _rows(db)
    assert runs[0].status == "incomplete" and "budget exceeded" in (runs[0].stop_reason or "")
    assert 0 < len(results) < 13 and runs[0].trials_run == len(results)
    assert runs[0].chatbot_cost_usd > 0.4
    # Next time the estimate from history refuses to start a run the budget cannot pay for.
    code, output = _invoke("run", str(suite), "--db", str(db), "--budget-usd", "0.4")
    assert code == 2 and "exceeds the budget" in output


def test_eval_ctrl_c_keeps_partial_results(tmp_path: Path) -> None:
    suite, db = _write_suite(tmp_path, target="interrupted", extra="concurrency: 1\n"), tmp_path / "e.db"
    code, output = _invoke("run", str(suite), "--db", str(db))
    assert code == 4, output
    runs, results = _rows(db)
    assert runs[0].status == "aborted" and "KeyboardInterrupt" in (runs[0].stop_reason or "")
    assert [r.case_id for r in results] == ["price", "q0"]
    code, output = _invoke("promote", runs[0].id, "--db", str(db))
    assert code == 2 and "only a complete run" in output


def test_eval_target_that_raises_and_hangs_fails_cases_and_run_continues(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\ntarget: tests.evals.fake_targets:hangs\ntimeout_s: 0.3\ncases:\n"
        "  - {id: ok, input: fine, assertions: [{type: contains, value: Answer}]}\n"
        "  - {id: stuck, input: hang please, assertions: [{type: contains, value: Answer}]}\n",
        encoding="utf-8",
    )
    db = tmp_path / "e.db"
    code, output = _invoke("run", str(path), "--db", str(db))
    assert code == 0, output  # no baseline, no must_pass, no threshold: reported, not blocking
    _, results = _rows(db)
    assert [(r.case_id, r.verdict, r.error) for r in results] == [
        ("ok", "passed", None), ("stuck", "failed", "timed out after 0.3s")
    ] or [(r.case_id, r.verdict, r.error) for r in results] == [
        ("stuck", "failed", "timed out after 0.3s"), ("ok", "passed", None)
    ]  # fmt: skip


def test_eval_rescore_reuses_stored_outputs(tmp_path: Path) -> None:
    suite, db = _write_suite(tmp_path), tmp_path / "e.db"
    assert _invoke("run", str(suite), "--db", str(db))[0] == 0
    calls = len(fake_targets.CALLS)
    code, output = _invoke("run", str(suite), "--db", str(db), "--rescore")
    assert code == 0, output
    assert len(fake_targets.CALLS) == calls  # the target was not called again
    assert "13 of 13 outputs reused" in output
    runs, results = _rows(db)
    assert len(runs) == 2 and len(results) == 26


def _judge_transport(healthy_calls: int) -> tuple[httpx.Client, list[int]]:
    """A recorded judge that answers ``healthy_calls`` times, then is down (503)."""
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(1)
        if len(seen) > healthy_calls:
            return httpx.Response(503, json={"error": {"message": "overloaded", "type": "server_error"}})
        content = json.dumps({"reason": "Clear and complete.", "score": 5})
        message = {"role": "assistant", "content": content}
        return httpx.Response(
            200,
            json={
                "id": f"j{len(seen)}", "object": "chat.completion", "created": 0, "model": "judge-model",
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
            },
        )  # fmt: skip

    return httpx.Client(transport=httpx.MockTransport(handler)), seen


def test_eval_judge_down_mid_run_leaves_cases_unscored_and_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "judged.yaml"
    cases = "\n".join(
        f"  - id: j{i}\n    input: Question {i}?\n    assertions:\n      - {{type: judge, rubric: helpfulness}}"
        for i in range(10)
    )
    path.write_text(f"name: judged\ntarget: tests.evals.fake_targets:echo\nconcurrency: 1\ncases:\n{cases}\n", "utf-8")
    monkeypatch.setenv("LLMMON_JUDGE_MODEL", "judge-model")
    monkeypatch.setenv("LLMMON_JUDGE_BASE_URL", "http://127.0.0.1:9/v1")
    client, seen = _judge_transport(healthy_calls=4)
    db = tmp_path / "e.db"
    try:
        code = execute_run(RunRequest(suite_path=path, db=str(db), progress=False), judge_http_client=client)
    finally:
        client.close()
    assert code == 3
    runs, results = _rows(db)
    verdicts = [r.verdict for r in results]
    assert verdicts[:4] == ["passed"] * 4 and set(verdicts[4:]) == {"unscored"}
    assert "passed" not in verdicts[4:]
    assert runs[0].decision == "infrastructure_error" and "judge unreachable" in (runs[0].infrastructure_errors or "")
    assert runs[0].judge_model == "judge-model" and "judge/helpfulness" in runs[0].judge_prompt_hashes
    # The breaker stopped asking after 3 failed judge calls (each retried once): not 6 x 2 calls.
    assert len(seen) <= 4 + 3 * 2


def test_eval_demo_suite_target_needs_no_argument(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    kb = Path(__file__).resolve().parents[2] / "examples" / "support_bot" / "kb"
    path.write_text(
        f"name: demo\ntarget: examples.support_bot.bot:answer\nknowledge_base: {kb}\ncases:\n"
        "  - id: hours\n    input: When do you open on Saturday?\n    must_pass: true\n"
        "    assertions: [{type: no_hallucination}, {type: judge, rubric: helpfulness}]\n",
        encoding="utf-8",
    )
    db = tmp_path / "e.db"
    code, output = _invoke("run", str(path), "--db", str(db))
    assert code == 0, output
    _, results = _rows(db)
    scores = {s["name"]: s for s in json.loads(results[0].scores)}
    assert scores["no_hallucination"]["status"] == "scored" and scores["no_hallucination"]["passed"] is True
    assert scores["judge:helpfulness"]["status"] == "skipped"
    assert results[0].cost_usd is not None and results[0].output_tokens
