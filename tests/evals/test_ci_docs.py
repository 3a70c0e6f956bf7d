"""docs/ci.md stays true: its workflow is valid YAML using `--json`, and its JSON keys are the real ones."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from llmmon.cli import app
from llmmon.evals.summary import error_summary

CI_DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"


def _workflow() -> dict:  # type: ignore[type-arg]
    block = re.search(r"`\.github/workflows/deploy\.yml`:\n\n```yaml\n(.*?)```", CI_DOC.read_text("utf-8"), re.DOTALL)
    assert block is not None
    return yaml.safe_load(block.group(1))  # type: ignore[no-any-return]


def test_ci_workflow_parses_and_reads_the_json_summary() -> None:
    steps = _workflow()["jobs"]["gate"]["steps"]
    gate = next(s for s in steps if s.get("id") == "gate")["run"]
    assert "llmmon eval run" in gate and "--json" in gate and "> reports/eval.json" in gate
    assert "sed " not in gate  # no scraping of the text report
    promote = next(s for s in steps if "promote" in s.get("run", ""))["run"]
    assert promote == 'llmmon eval promote "${{ steps.gate.outputs.run_id }}"'


def test_keys_the_doc_uses_and_lists_are_in_the_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("LLMMON_JUDGE_MODEL", "LLMMON_JUDGE_BASE_URL", "LLMMON_JUDGE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\ntarget: tests.evals.fake_targets:echo\ncases:\n"
        "  - {id: a, input: hi, assertions: [{type: contains, value: open}]}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["eval", "run", str(suite), "--db", str(tmp_path / "e.db"), "--json"])
    assert result.exit_code == 0, result.output
    keys = set(json.loads(result.stdout)) | set(error_summary(2, "x"))
    text = CI_DOC.read_text(encoding="utf-8")
    used = set(re.findall(r"jq -r '\.([a-z_]+)", text)) | set(re.findall(r", \.([a-z_]+)\?", text))
    assert used >= {"run_id", "decision", "reasons", "error"} and used <= keys
    table = text.split("## The JSON summary", 1)[1].split("`llmmon eval list --json", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", table))
    assert keys - {"summary_version", "suite", "suite_path", "label", "compared_cases", "thresholds",
                   "infrastructure_errors", "minimum_detectable_drop"} <= documented  # fmt: skip
