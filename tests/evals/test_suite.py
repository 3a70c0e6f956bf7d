"""Suite loading: valid files, fingerprints, and every bad-input path with file, line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from llmmon.errors import EvalSuiteError
from llmmon.evals.suite import CallableTarget, HttpTarget, ModelTarget, check_imports, load_suite

VALID = """\
name: support-bot
target: demo.bot:answer
knowledge_base: support
judge: {model: gpt-4o-mini}
repeats: 3
concurrency: 8
budget_usd: 2.5
gate:
  mode: non_inferiority
  delta: 0.03
  thresholds: {pass: 0.8}
default_assertions:
  - type: max_latency_ms
    value: 5000
cases:
  - id: hours-en
    input: When do you open on Saturday?
    expected: We open at 10am on Saturdays.
    tags: [hours, en]
    must_pass: true
    assertions:
      - type: contains
        value: ["10", "Saturday"]
      - type: judge
        rubric: helpfulness
        threshold: 0.7
  - id: hours-ko
    input:
      - {role: system, content: "You are a support bot for {{ shop }}."}
      - {role: user, content: "토요일 몇 시에 열어요?"}
    variables: {shop: Acme}
    assertions:
      - {type: number, expected: 10, pattern: "(\\\\d+)시"}
      - {type: no_hallucination}
  - id: weather
    input: What's the weather?
    assertions: [{type: refuses}]
"""


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_load_suite_parses_every_section(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, VALID))
    assert suite.name == "support-bot"
    assert isinstance(suite.target, CallableTarget) and suite.target.function == "demo.bot:answer"
    assert suite.repeats == 3 and suite.budget_usd == 2.5
    assert suite.gate.mode == "non_inferiority" and suite.gate.effective_delta == 0.03
    assert [c.id for c in suite.cases] == ["hours-en", "hours-ko", "weather"]
    ko = suite.cases[1]
    assert ko.question == "토요일 몇 시에 열어요?" and ko.variables == {"shop": "Acme"}
    labels = [a.label for a in suite.assertions_for(suite.cases[0])]
    assert labels == ["max_latency_ms", "contains", "judge:helpfulness"]
    assert suite.line_of("cases", 1, "assertions", 0) == 33


def test_gate_delta_default_depends_on_mode(tmp_path: Path) -> None:
    detect = load_suite(
        write(tmp_path, "name: a\ncases: [{id: x, input: q, assertions: [{type: refuses}]}]\n")
    )
    assert detect.gate.effective_delta == 0.0
    ni = load_suite(
        write(tmp_path, "name: a\ngate: {mode: non_inferiority}\ncases: [{id: x, input: q}]\n", "b.yaml")
    )
    assert ni.gate.effective_delta == 0.05


def test_target_shorthands_and_forms(tmp_path: Path) -> None:
    http = load_suite(
        write(tmp_path, "name: a\ntarget: https://bot.example/ask\ncases: [{id: x, input: q}]\n")
    )
    assert isinstance(http.target, HttpTarget) and http.target.response_field == "answer"
    model = load_suite(
        write(
            tmp_path,
            "name: a\ntarget: {type: model, model: gpt-4o-mini, prompt: support-answer}\n"
            "cases: [{id: x, input: q}]\n",
            "m.yaml",
        )
    )
    assert isinstance(model.target, ModelTarget) and model.target.prompt == "support-answer"


def test_hashes_are_stable_and_ignore_layout_tags_and_must_pass(tmp_path: Path) -> None:
    a = load_suite(write(tmp_path, VALID, "a.yaml"))
    relaid = VALID.replace("    tags: [hours, en]\n    must_pass: true\n", "    # a comment\n")
    b = load_suite(write(tmp_path, relaid, "b.yaml"))
    assert a.cases[0].case_hash == b.cases[0].case_hash
    assert a.suite_hash != b.suite_hash  # the suite itself did change
    assert len(a.suite_hash) == 16
    edited = load_suite(write(tmp_path, VALID.replace("threshold: 0.7", "threshold: 0.8"), "c.yaml"))
    assert edited.cases[0].case_hash != a.cases[0].case_hash
    assert edited.cases[1].case_hash == a.cases[1].case_hash
    # default assertions are part of every case's fingerprint
    no_default = load_suite(write(tmp_path, VALID.replace("value: 5000", "value: 6000"), "d.yaml"))
    assert all(x.case_hash != y.case_hash for x, y in zip(a.cases, no_default.cases, strict=True))


def test_assertion_type_typo_names_file_line_field_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("- type: contains", "- type: contians"))
    with pytest.raises(EvalSuiteError) as info:
        load_suite(path)
    message = str(info.value)
    assert f"{path}:22: cases[0].assertions[0].type: unknown type 'contians'" in message
    assert "did you mean 'contains'?" in message
    assert info.value.path == path


def test_misspelt_field_is_rejected_with_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("threshold: 0.7", "treshold: 0.7"))
    with pytest.raises(
        EvalSuiteError,
        match=r"suite.yaml:26: cases\[0\].assertions\[1\].treshold: .*did you mean 'threshold'",
    ):
        load_suite(path)


def test_missing_field_names_parent_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        VALID.replace("      - {type: number, expected: 10, pattern", "      - {type: number, pattern"),
    )
    with pytest.raises(
        EvalSuiteError, match=r"suite.yaml:33: cases\[1\].assertions\[0\].expected: Field required"
    ):
        load_suite(path)


def test_missing_case_input_and_suite_name(tmp_path: Path) -> None:
    path = write(tmp_path, "cases:\n  - id: a\n    assertions: [{type: refuses}]\n")
    with pytest.raises(EvalSuiteError) as info:
        load_suite(path)
    assert f"{path}:1: name: Field required" in str(info.value)
    assert f"{path}:2: cases[0].input: Field required" in str(info.value)


def test_invalid_regex_is_a_load_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: a\ncases:\n  - id: a\n    input: q\n    assertions:\n      - {type: regex, pattern: '('}\n",
    )
    with pytest.raises(
        EvalSuiteError, match=r":6: cases\[0\].assertions\[0\].pattern: .*invalid regular expression"
    ):
        load_suite(path)


def test_invalid_json_schema_is_a_load_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: a\ncases:\n  - id: a\n    input: q\n    assertions:\n"
        "      - {type: json_schema, schema: {type: nope}}\n",
    )
    with pytest.raises(EvalSuiteError, match=r"invalid JSON schema"):
        load_suite(path)


def test_duplicate_case_ids_name_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: a\ncases:\n  - id: same\n    input: q\n  - id: other\n    input: q\n"
        "  - id: same\n    input: r\n",
    )
    with pytest.raises(
        EvalSuiteError,
        match=r"suite.yaml:7: cases\[2\].id: duplicate case id 'same' \(first used on line 3\)",
    ):
        load_suite(path)


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "name: a\ncases:\n  - id: a\n    input: q\n    input: r\n")
    with pytest.raises(EvalSuiteError, match=r"suite.yaml:5: cases\[0\].input: duplicate key 'input'"):
        load_suite(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", r"suite.yaml:1: the suite file is empty"),
        ("name: a\ncases: []\n", r"suite.yaml:1: .*the suite has no cases"),
        ("name: a\n", r"suite.yaml:1: cases: Field required"),
        ("- just\n- a list\n", r"suite.yaml:1: a suite must be a mapping"),
        ("name: a\ncases: [\n", r"suite.yaml:3: invalid YAML"),
    ],
)
def test_empty_or_malformed_suites(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(EvalSuiteError, match=expected):
        load_suite(write(tmp_path, text))


def test_missing_file_is_a_suite_error(tmp_path: Path) -> None:
    with pytest.raises(EvalSuiteError, match="cannot read suite file"):
        load_suite(tmp_path / "nope.yaml")


def test_check_imports_reports_unknown_module_with_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: a\ncases:\n  - id: a\n    input: q\n    assertions:\n"
        "      - type: python\n        function: no_such_pkg_llmmon.checks:score\n",
    )
    suite = load_suite(path)
    with pytest.raises(EvalSuiteError) as info:
        check_imports(suite)
    assert f"{path}:7: cases[0].assertions[0].function: cannot import" in str(info.value)
    assert "no module named 'no_such_pkg_llmmon'" in str(info.value)


def test_check_imports_reports_missing_attribute_and_bad_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "evalhelpers_mod.py").write_text("def score(output, context):\n    return 1.0\nVALUE = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ok = load_suite(
        write(tmp_path, "name: a\ntarget: evalhelpers_mod:score\ncases: [{id: a, input: q}]\n", "ok.yaml")
    )
    check_imports(ok)  # resolves without error
    missing = load_suite(
        write(tmp_path, "name: a\ntarget: evalhelpers_mod:nope\ncases: [{id: a, input: q}]\n", "m.yaml")
    )
    with pytest.raises(EvalSuiteError, match=r"m.yaml:2: target.function: .*has no attribute 'nope'"):
        check_imports(missing)
    not_callable = load_suite(
        write(tmp_path, "name: a\ntarget: evalhelpers_mod:VALUE\ncases: [{id: a, input: q}]\n", "v.yaml")
    )
    with pytest.raises(EvalSuiteError, match="is not callable"):
        check_imports(not_callable)


def test_malformed_import_path_is_a_load_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: a\ncases:\n  - id: a\n    input: q\n"
        "    assertions: [{type: python, function: 'not a path'}]\n",
    )
    with pytest.raises(
        EvalSuiteError, match=r":5: cases\[0\].assertions\[0\].function: String should match pattern"
    ):
        load_suite(path)
