"""`--rescore-baseline`: a judge change alone is not read as a chatbot regression.

The chatbot is deterministic (same outputs every run). Judge A passes every answer; judge B (a
stricter judge) fails the answers to odd-numbered questions. Both are the real ``JudgeClient``
over a recorded OpenAI-compatible endpoint (``httpx.MockTransport``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from llmmon.cli.eval import RunRequest, execute_run
from llmmon.storage.engine import make_engine
from llmmon.storage.models.evals import EvalResult, EvalRun
from tests.evals import fake_targets

CASES = 20


class RecordedJudges:
    """judge-a scores every answer 5/5; judge-b scores answers to odd-numbered questions 1/5."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {"judge-a": 0, "judge-b": 0}

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        model = body["model"]
        self.calls[model] += 1
        number = re.search(r"Question (\d+)\?", json.dumps(body["messages"]))
        assert number is not None, body
        strict_fail = model == "judge-b" and int(number.group(1)) % 2 == 1
        verdict = {"reason": "Misses the point." if strict_fail else "Helpful.", "score": 1 if strict_fail else 5}
        message = {"role": "assistant", "content": json.dumps(verdict)}
        return httpx.Response(
            200,
            json={
                "id": "j", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
            },
        )  # fmt: skip


def _suite(tmp_path: Path) -> Path:
    cases = "\n".join(
        f"  - id: q{i}\n    input: Question {i}?\n    assertions:\n      - {{type: judge, rubric: helpfulness}}"
        for i in range(CASES)
    )
    path = tmp_path / "judged.yaml"
    path.write_text(f"name: judged\ntarget: tests.evals.fake_targets:echo\ncases:\n{cases}\n", encoding="utf-8")
    return path


def _run(
    judges: RecordedJudges,
    judge_model: str,
    suite: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    **flags: bool,
) -> dict:  # type: ignore[type-arg]
    monkeypatch.setenv("LLMMON_JUDGE_MODEL", judge_model)
    client = httpx.Client(transport=httpx.MockTransport(judges.handle))
    try:
        code = execute_run(
            RunRequest(suite_path=suite, db=db_url, progress=False, json_output=True, **flags),
            judge_http_client=client,
        )
    finally:
        client.close()
    summary = json.loads(capsys.readouterr().out)
    assert summary["exit_code"] == code
    return summary  # type: ignore[no-any-return]


def test_judge_change_alone_regresses_without_rescore_and_passes_with_it(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMMON_JUDGE_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("LLMMON_JUDGE_API_KEY", raising=False)
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    fake_targets.CALLS.clear()
    judges, suite = RecordedJudges(), _suite(tmp_path)

    baseline = _run(judges, "judge-a", suite, db_url, monkeypatch, capsys, promote_on_pass=True)
    assert (baseline["decision"], baseline["promoted"], baseline["trials"]["passed"]) == ("pass", True, CASES)
    assert judges.calls == {"judge-a": CASES, "judge-b": 0}

    # Same chatbot, new judge, no re-scoring: the judge change reads as a regression, and the report
    # says the judge differs.
    plain = _run(judges, "judge-b", suite, db_url, monkeypatch, capsys)
    assert plain["decision"] == "regression" and plain["exit_code"] == 1
    assert {"key": "judge_model", "baseline": "judge-a", "candidate": "judge-b"} in plain["fingerprint_differences"]
    assert sorted(plain["newly_failing"]) == sorted(f"q{i}" for i in range(1, CASES, 2))
    assert plain["rescored_baseline_id"] is None

    # With --rescore-baseline the baseline's stored outputs are re-judged by judge B: like with like.
    calls_before = len(fake_targets.CALLS)
    rescored = _run(judges, "judge-b", suite, db_url, monkeypatch, capsys, rescore_baseline=True)
    assert rescored["decision"] == "pass" and rescored["exit_code"] == 0, rescored["reasons"]
    assert rescored["newly_failing"] == [] and rescored["compared_cases"] == CASES
    assert not [d for d in rescored["fingerprint_differences"] if d["key"] in ("judge_model", "judge_prompts")]
    assert rescored["baseline_run_id"] == rescored["rescored_baseline_id"] != baseline["run_id"]
    assert len(fake_targets.CALLS) == calls_before + CASES  # only the candidate called the chatbot

    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            rejudged = session.get(EvalRun, rescored["rescored_baseline_id"])
            assert rejudged is not None
            rows = list(session.exec(select(EvalResult).where(EvalResult.run_id == rejudged.id)))
            original = list(session.exec(select(EvalResult).where(EvalResult.run_id == baseline["run_id"])))
            promoted = session.get(EvalRun, baseline["run_id"])
    finally:
        engine.dispose()
    assert rejudged.rescored_from == baseline["run_id"] and rejudged.judge_model == "judge-b"
    assert promoted is not None and promoted.is_baseline and not rejudged.is_baseline  # the baseline stays
    assert {r.output for r in rows} == {r.output for r in original}  # the same stored outputs ...
    assert sorted(r.case_id for r in rows if r.verdict == "failed") == sorted(plain["newly_failing"])  # ... re-judged
    # Judge B's verdicts on identical outputs came from its cache: it judged each answer once.
    assert judges.calls == {"judge-a": CASES, "judge-b": CASES}


def test_rescore_baseline_without_a_baseline_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMMON_JUDGE_BASE_URL", "http://127.0.0.1:9/v1")
    summary = _run(
        RecordedJudges(), "judge-a", _suite(tmp_path), f"sqlite:///{tmp_path / 'e.db'}", monkeypatch, capsys,
        rescore_baseline=True,
    )  # fmt: skip
    assert summary["decision"] == "pass" and summary["baseline_run_id"] is None
    assert summary["rescored_baseline_id"] is None
