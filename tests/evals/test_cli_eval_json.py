"""Machine-readable output for CI: `eval run --json`, `eval list --json`, and the JUnit gate entry.

Runs on SQLite and PostgreSQL (``db_url``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmmon.cli import app
from tests.evals import fake_targets

CASES = 12


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    for name in ("LLMMON_JUDGE_MODEL", "LLMMON_JUDGE_BASE_URL", "LLMMON_JUDGE_API_KEY", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)
    fake_targets.WRONG_PRICES.clear()
    yield
    fake_targets.WRONG_PRICES.clear()


def _suite(tmp_path: Path) -> Path:
    cases = "\n".join(
        f"  - id: p{i}\n    input: Price of charger {i}?\n    assertions:\n      - {{type: contains, value: $49}}"
        for i in range(CASES)
    )
    path = tmp_path / "suite.yaml"
    path.write_text(f"name: json-suite\ntarget: tests.evals.fake_targets:prices_vary\ncases:\n{cases}\n", "utf-8")
    return path


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["eval", *args])
    return result.exit_code, result.stdout, result.stderr


def _json_run(*args: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = _invoke("run", *args, "--json")
    return code, json.loads(out), err  # stdout is only the JSON summary


def test_run_json_summary_then_list_json_on_both_databases(tmp_path: Path, db_url: str) -> None:
    suite, junit = _suite(tmp_path), tmp_path / "gate.xml"
    code, first, err = _json_run(str(suite), "--db", db_url, "--label", "v1", "--promote-on-pass")
    assert code == 0
    assert first["run_id"].startswith("run-") and first["suite"] == "json-suite" and first["label"] == "v1"
    assert (first["decision"], first["exit_code"], first["status"], first["promoted"]) == ("pass", 0, "complete", True)
    assert first["trials"] == {
        "planned": CASES, "run": CASES, "passed": CASES, "failed": 0, "unscored": 0,
        "target_calls": CASES, "reused_outputs": 0,
    }  # fmt: skip
    assert first["baseline_run_id"] is None and first["pass_rate"] == 1.0
    assert "PASS json-suite" in err  # the human report still goes to the log, on stderr

    fake_targets.WRONG_PRICES.set()
    code, second, _ = _json_run(str(suite), "--db", db_url, "--label", "v2", "--junit", str(junit))
    assert code == 1 and second["decision"] == "regression" and second["exit_code"] == 1
    assert second["baseline_run_id"] == first["run_id"] and second["promoted"] is False
    assert sorted(second["newly_failing"]) == sorted(f"p{i}" for i in range(CASES))
    assert [m["metric"] for m in second["metrics"]] == ["pass"] and second["metrics"][0]["verdict"] == "regression"
    assert second["metrics"][0]["test"]["discordant_worse"] == CASES
    assert second["reports"] == {"junit": str(junit)}

    code, out, _ = _invoke("list", "--db", db_url, "--json")
    assert code == 0
    listed = json.loads(out)
    assert [r["run_id"] for r in listed] == [second["run_id"], first["run_id"]]  # newest first
    assert [(r["is_baseline"], r["decision"], r["exit_code"], r["label"]) for r in listed] == [
        (False, "regression", 1, "v2"), (True, "pass", 0, "v1")
    ]  # fmt: skip
    assert listed[1]["passed"] == CASES and listed[0]["failed"] == CASES and listed[1]["promoted_at"]
    code, out, _ = _invoke("list", "--db", db_url, "--json", "--suite", "other-suite")
    assert code == 0 and json.loads(out) == []


def test_junit_has_cases_plus_one_gate_entry(tmp_path: Path, db_url: str) -> None:
    suite, clean_xml, bad_xml = _suite(tmp_path), tmp_path / "clean.xml", tmp_path / "bad.xml"
    assert _invoke("run", str(suite), "--db", db_url, "--promote-on-pass", "--junit", str(clean_xml))[0] == 0
    fake_targets.WRONG_PRICES.set()
    assert _invoke("run", str(suite), "--db", db_url, "--junit", str(bad_xml))[0] == 1
    for path, decision in ((clean_xml, "pass"), (bad_xml, "regression")):
        root = ET.fromstring(path.read_text(encoding="utf-8"))
        cases = root.findall("testcase")
        assert len(cases) == CASES + 1 and root.get("tests") == str(CASES + 1)
        gate = [c for c in cases if c.get("classname") == "llmmon.gate"]
        assert len(gate) == 1 and gate[0].get("name") == "decision" and cases[-1] is gate[0]
        assert {c.get("classname") for c in cases[:-1]} == {"llmmon.json-suite"}
        failure = gate[0].find("failure")
        if decision == "pass":
            assert failure is None and root.get("failures") == "0"
        else:
            assert failure is not None and failure.get("message") == "regression"
            assert "pass: regression" in (failure.text or "")
            assert root.get("failures") == str(CASES + 1)


def test_run_json_on_a_usage_error_prints_an_error_summary(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ncases:\n  - id: a\n    assertions: []\n", encoding="utf-8")
    code, summary, err = _json_run(str(bad), "--db", str(tmp_path / "e.db"))
    assert code == 2
    assert summary["decision"] == "config_error" and summary["exit_code"] == 2 and summary["run_id"] is None
    assert f"{bad}:3" in summary["error"] and "input" in summary["error"]
    assert "Error:" in err
