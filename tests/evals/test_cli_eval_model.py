"""The model target: an OpenAI-compatible model with a prompt from prompts/, so a prompt change is gated alone.

The model is the real ``openai`` client over ``httpx.MockTransport`` (injected through
``execute_run(target_http_client=...)``) returning recorded chat completions whose answer depends on
the prompt it was sent, the way a real model's would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from llmmon.cli.eval import RunRequest, execute_run
from llmmon.errors import ConfigError
from llmmon.pricing import PriceTable
from llmmon.storage.engine import make_engine
from llmmon.storage.models.evals import EvalResult, EvalRun

V1 = """\
  - version: v1
    temperature: 0
    messages:
      - {role: system, content: "You answer for {{ shop }}. Quote prices exactly as listed."}
      - {role: user, content: "{{ question }}"}
"""
V2 = """\
  - version: v2
    temperature: 0
    messages:
      - {role: system, content: "You answer for {{ shop }}. Round prices to make them friendly."}
      - {role: user, content: "{{ question }}"}
"""
WITH_PASSAGES = """\
  - version: v1
    messages:
      - {role: system, content: "Context:{% for p in passages %} [{{ p.source }}] {{ p.text }}{% endfor %}"}
      - {role: user, content: "{{ question }}"}
"""


class RecordedModel:
    """Recorded chat completions: exact prices when the system prompt says so, rounded otherwise."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.client = httpx.Client(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        system = body["messages"][0]["content"]
        answer = "The charger costs $49." if "exactly" in system else "The charger costs about $50."
        return httpx.Response(
            200,
            json={
                "id": f"cmpl-{len(self.bodies)}", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}],
                "usage": {"prompt_tokens": 30, "completion_tokens": 8, "total_tokens": 38},
            },
        )  # fmt: skip


@pytest.fixture
def model() -> Iterator[RecordedModel]:
    recorded = RecordedModel()
    yield recorded
    recorded.client.close()


@pytest.fixture
def prompts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "prompts"
    directory.mkdir()
    monkeypatch.setenv("LLMMON_PROMPTS_DIR", str(directory))
    for name in ("LLMMON_JUDGE_MODEL", "LLMMON_JUDGE_BASE_URL", "LLMMON_JUDGE_API_KEY", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)
    return directory


def _write_prompt(prompts_dir: Path, name: str, versions: str) -> None:
    (prompts_dir / f"{name}.yaml").write_text(f"name: {name}\nversions:\n{versions}", encoding="utf-8")


def _suite(tmp_path: Path, *, prompt: str = "shop-answer", extra: str = "", variables: str = "{shop: Acme}") -> Path:
    cases = "\n".join(
        f"  - id: price{i}\n    input: How much is charger model {i}?\n    variables: {variables}\n"
        "    assertions:\n      - {type: contains, value: $49}"
        for i in range(12)
    )
    path = tmp_path / "model.yaml"
    path.write_text(
        f"name: model-suite\ntarget: {{type: model, model: gpt-4o-mini, prompt: {prompt}, "
        f"base_url: 'http://127.0.0.1:9/v1'}}\n{extra}cases:\n{cases}\n",
        encoding="utf-8",
    )
    return path


def _run(suite: Path, db: str, model: RecordedModel, capsys: pytest.CaptureFixture[str], *flags: str) -> dict:  # type: ignore[type-arg]
    request = RunRequest(suite_path=suite, db=db, progress=False, json_output=True, promote_on_pass="promote" in flags)
    code = execute_run(request, target_http_client=model.client)
    summary = json.loads(capsys.readouterr().out)
    assert summary["exit_code"] == code
    return summary  # type: ignore[no-any-return]


def test_a_prompt_change_alone_is_gated(
    tmp_path: Path, prompts_dir: Path, model: RecordedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    suite, db = _suite(tmp_path), f"sqlite:///{tmp_path / 'e.db'}"
    _write_prompt(prompts_dir, "shop-answer", V1)
    clean = _run(suite, db, model, capsys, "promote")
    assert (clean["decision"], clean["promoted"], clean["trials"]["passed"]) == ("pass", True, 12)
    first = model.bodies[0]
    assert first["model"] == "gpt-4o-mini" and first["temperature"] == 0
    assert first["messages"] == [
        {"role": "system", "content": "You answer for Acme. Quote prices exactly as listed."},
        {"role": "user", "content": "How much is charger model 0?"},
    ]

    _write_prompt(prompts_dir, "shop-answer", V1 + V2)  # the only change: a new prompt version
    changed = _run(suite, db, model, capsys)
    assert changed["decision"] == "regression" and changed["exit_code"] == 1
    assert sorted(changed["newly_failing"]) == sorted(f"price{i}" for i in range(12))
    assert changed["baseline_run_id"] == clean["run_id"]
    target_change = [d for d in changed["fingerprint_differences"] if d["key"] == "target"]
    assert target_change == [
        {"key": "target", "baseline": "model:gpt-4o-mini prompt:shop-answer@v1",
         "candidate": "model:gpt-4o-mini prompt:shop-answer@v2"}
    ]  # fmt: skip
    assert len(model.bodies) == 24 and "Round prices" in str(model.bodies[-1]["messages"])

    engine = make_engine(db)
    try:
        with Session(engine) as session:
            runs = list(session.exec(select(EvalRun).order_by(EvalRun.started_at)))  # type: ignore[arg-type]
            row = session.exec(select(EvalResult).where(EvalResult.run_id == changed["run_id"])).first()
    finally:
        engine.dispose()
    assert runs[0].suite_hash == runs[1].suite_hash and runs[0].target_fingerprint != runs[1].target_fingerprint
    assert row is not None and row.output == "The charger costs about $50." and row.verdict == "failed"
    assert (row.input_tokens, row.output_tokens) == (30, 8)  # from the llm span of the wrapped client
    assert row.cost_usd == pytest.approx(PriceTable.load().cost_usd("gpt-4o-mini", input_tokens=30, output_tokens=8))


def test_model_target_fills_passages_from_the_suite_knowledge_base(
    tmp_path: Path, prompts_dir: Path, model: RecordedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "prices.md").write_text("# Prices\n\nThe charger costs $49 in every store.\n", encoding="utf-8")
    _write_prompt(prompts_dir, "kb-answer", WITH_PASSAGES)
    suite = _suite(tmp_path, prompt="kb-answer", extra="knowledge_base: kb\n")
    summary = _run(suite, f"sqlite:///{tmp_path / 'e.db'}", model, capsys)
    assert summary["trials"]["run"] == 12
    system = model.bodies[0]["messages"][0]["content"]  # type: ignore[index]
    assert "The charger costs $49 in every store." in system and "prices.md" in system


def test_model_target_prompt_variable_no_case_gives_is_a_config_error_before_any_call(
    tmp_path: Path, prompts_dir: Path, model: RecordedModel
) -> None:
    _write_prompt(prompts_dir, "shop-answer", V1)
    suite = _suite(tmp_path, variables="{}")
    with pytest.raises(ConfigError, match=r"needs variable\(s\) the cases do not give: shop \(cases price0, "):
        execute_run(
            RunRequest(suite_path=suite, db=str(tmp_path / "e.db"), progress=False), target_http_client=model.client
        )
    _write_prompt(prompts_dir, "kb-answer", WITH_PASSAGES)
    no_kb = _suite(tmp_path, prompt="kb-answer")
    with pytest.raises(ConfigError, match=r"passages .*add `knowledge_base:` to the suite"):
        execute_run(
            RunRequest(suite_path=no_kb, db=str(tmp_path / "e.db"), progress=False), target_http_client=model.client
        )
    assert model.bodies == []


def test_model_target_unknown_prompt_is_a_usage_error(tmp_path: Path, prompts_dir: Path) -> None:
    from typer.testing import CliRunner

    from llmmon.cli import app

    suite = _suite(tmp_path, prompt="no-such-prompt")
    result = CliRunner().invoke(app, ["eval", "run", str(suite), "--db", str(tmp_path / "e.db"), "--json"])
    assert result.exit_code == 2
    summary = json.loads(result.stdout)
    assert summary["decision"] == "config_error" and "no prompt named 'no-such-prompt'" in summary["error"]
