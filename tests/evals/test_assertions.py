"""Deterministic assertions, the refusal detector, python assertions and pluggable scorers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from llmmon.checks.verdicts import Score
from llmmon.errors import EvalSuiteError
from llmmon.evals.assertions import evaluate_assertion, evaluate_assertions, extract_numbers
from llmmon.evals.refusal import detect_refusal
from llmmon.evals.results import Observation
from llmmon.evals.suite import Assertion, EvalCase

_ADAPTER: TypeAdapter[Any] = TypeAdapter(Assertion)
CASE = EvalCase(id="c1", input="When do you open?", expected="We open at 9am.", reference="9am to 6pm")


def check(spec: dict[str, Any], output: str, **measured: Any) -> Score:
    assertion = _ADAPTER.validate_python(spec)
    return evaluate_assertion(assertion, case=CASE, observation=Observation(output=output, **measured))


@pytest.mark.parametrize(
    ("spec", "output", "passed"),
    [
        ({"type": "equals"}, "  We open at 9am.\n", True),  # falls back to case.expected, stripped
        ({"type": "equals", "value": "we OPEN at 9am.", "ignore_case": True}, "We open at 9am.", True),
        ({"type": "equals", "value": "9am"}, "9 am", False),
        ({"type": "contains", "value": "9am"}, "We open at 9am", True),
        ({"type": "contains", "value": ["9am", "Sunday"]}, "We open at 9am", False),  # default all
        ({"type": "contains", "value": ["9am", "Sunday"], "mode": "any"}, "We open at 9am", True),
        ({"type": "contains", "value": "SUNDAY", "ignore_case": True}, "closed on sunday", True),
        ({"type": "not_contains", "value": ["$", "free"]}, "It costs 10 dollars", True),
        ({"type": "not_contains", "value": ["$", "free"]}, "It costs $10", False),
        ({"type": "not_contains", "value": ["$", "free"], "mode": "any"}, "It costs $10", True),
        ({"type": "regex", "pattern": r"\b9\s?am\b"}, "open at 9 am", True),
        ({"type": "regex", "pattern": "refund", "match": False}, "no refunds", False),
        ({"type": "regex", "pattern": "OPEN", "ignore_case": True}, "open", True),
        ({"type": "number", "expected": 1200}, "The plan costs $1,200.00 per year", True),
        ({"type": "number", "expected": 19.99, "tolerance": 0.01}, "only 19.98 today", True),
        ({"type": "number", "expected": 20}, "only 19.98 today", False),
        ({"type": "number", "expected": 100, "relative_tolerance": 0.05}, "about 104 items", True),
        ({"type": "number", "expected": 10, "pick": "first"}, "3 plans from 10 dollars", False),
        ({"type": "number", "expected": 10, "pick": "last"}, "3 plans from 10 dollars", True),
        ({"type": "number", "expected": 12000, "pattern": r"([\d,]+)원"}, "3개 12,000원", True),
        ({"type": "number", "expected": 5}, "no digits here", False),
        ({"type": "refuses"}, "I'm sorry, but I can't help with that.", True),
        ({"type": "refuses"}, "We open at 9am.", False),
        ({"type": "refuses", "expected": False}, "We open at 9am.", True),
    ],
)
def test_deterministic_assertions(spec: dict[str, Any], output: str, passed: bool) -> None:
    score = check(spec, output)
    assert score.status == "scored"
    assert score.passed is passed, score.reason
    assert score.value == float(passed)


def test_json_schema_assertion_reports_the_failing_path() -> None:
    schema = {"type": "object", "properties": {"price": {"type": "number"}}, "required": ["price"]}
    assert check({"type": "json_schema", "schema": schema}, '{"price": 10}').passed is True
    bad = check({"type": "json_schema", "schema": schema}, '{"price": "ten"}')
    assert bad.passed is False and bad.reason.startswith("price: 'ten' is not of type 'number'")
    prose = check({"type": "json_schema", "schema": schema}, "the price is 10")
    assert prose.passed is False and "not JSON" in prose.reason


def test_measured_limits_pass_fail_and_unmeasured() -> None:
    assert check({"type": "max_latency_ms", "value": 500}, "x", latency_ms=420.0).passed is True
    assert check({"type": "max_latency_ms", "value": 500}, "x", latency_ms=501.0).passed is False
    assert check({"type": "max_cost_usd", "value": 0.01}, "x", cost_usd=0.002).passed is True
    assert check({"type": "max_cost_usd", "value": 0.001}, "x", cost_usd=0.002).passed is False
    assert check({"type": "max_tokens", "value": 100}, "x", output_tokens=120).passed is False
    assert check({"type": "max_tokens", "value": 200, "count": "total"}, "x", total_tokens=150).passed is True
    unmeasured = check({"type": "max_latency_ms", "value": 500}, "x")
    assert unmeasured.status == "unscored" and unmeasured.passed is None
    assert (
        check({"type": "max_tokens", "value": 5}, "x", total_tokens=3).status == "unscored"
    )  # output not measured


def test_extract_numbers_understands_separators_and_signs() -> None:
    assert extract_numbers("From $1,234.50 to -3 or 7.25, 12,000원") == [1234.5, -3.0, 7.25, 12000.0]


@pytest.mark.parametrize(
    "text",
    [
        "I'm sorry, but I can't help with that request.",
        "I’m afraid I cannot answer questions about the weather.",
        "I can only help with questions about our store.",
        "That is outside my scope as a support assistant.",
        "I don't have information about stock prices.",
        "Sorry, I am unable to assist with medical advice.",
        "I don't know.",
        "죄송하지만 그 질문에는 답변드릴 수 없습니다.",
        "날씨에 대해서는 안내해 드리기 어렵습니다.",
        "해당 정보가 없습니다. 매장 관련 문의만 도와드릴 수 있어요.",
        "이 질문은 제 답변 범위를 벗어납니다.",
        "저는 매장과 관련된 질문에만 답변할 수 있습니다.",
    ],
)
def test_refusal_detector_finds_declines(text: str) -> None:
    assert detect_refusal(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "Sorry for the wait! We open at 9am on weekdays.",
        "Refunds cannot be provided after 30 days, but we can offer store credit.",
        "We can't offer discounts on sale items; the regular price is $20.",
        "죄송합니다, 기다리셨죠! 평일 오전 9시에 엽니다.",
        "환불은 구매 후 7일 이내에 가능합니다.",
        "You can't return opened software.",
    ],
)
def test_refusal_detector_ignores_answers_and_policy_statements(text: str) -> None:
    assert detect_refusal(text) is None


class RecordedJudge:
    """A scorer replaying fixed verdicts, as the real judge would return them."""

    def __init__(self, score: Score | Exception) -> None:
        self.result = score
        self.calls: list[tuple[str, str]] = []

    def score(self, assertion: Any, *, case: EvalCase, observation: Observation) -> Score:
        self.calls.append((assertion.type, observation.output))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_judge_type_assertions_are_skipped_without_scorers() -> None:
    specs = [{"type": "judge", "rubric": "helpfulness"}, {"type": "correct"}, {"type": "no_hallucination"}]
    scores = evaluate_assertions(
        [_ADAPTER.validate_python(s) for s in specs], case=CASE, observation=Observation("9am")
    )
    assert [s.status for s in scores] == ["skipped"] * 3
    assert [s.reason for s in scores] == [
        "judge not configured",
        "judge not configured",
        "fact checker not configured",
    ]
    assert all(s.passed is None for s in scores)
    assert scores[0].name == "judge:helpfulness"


def test_scorers_are_called_by_type_and_renamed_to_the_assertion_label() -> None:
    judge = RecordedJudge(Score(name="helpfulness", value=0.9, passed=True))
    checker = RecordedJudge(Score(name="factcheck", value=0.0, passed=False, reason="contradicted: price"))
    scores = evaluate_assertions(
        [_ADAPTER.validate_python({"type": "judge", "rubric": "judge/helpfulness"}),
         _ADAPTER.validate_python({"type": "no_hallucination"})],
        case=CASE, observation=Observation("We open at 9am"),
        scorers={"judge": judge, "no_hallucination": checker},
    )  # fmt: skip
    assert [(s.name, s.passed) for s in scores] == [("judge:helpfulness", True), ("no_hallucination", False)]
    assert judge.calls == [("judge", "We open at 9am")] and checker.calls == [
        ("no_hallucination", "We open at 9am")
    ]


def test_a_scorer_that_raises_yields_unscored_never_pass() -> None:
    broken = RecordedJudge(ConnectionError("judge down"))
    score = evaluate_assertion(
        _ADAPTER.validate_python({"type": "correct"}),
        case=CASE,
        observation=Observation("x"),
        scorers={"correct": broken},
    )
    assert score.status == "unscored" and score.passed is None
    assert score.error == "ConnectionError: judge down"


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = "llmmon_eval_user_checks"
    (tmp_path / f"{name}.py").write_text(
        "from llmmon.checks.verdicts import Score\n"
        "def short(output, context):\n    return len(output) <= context.args.get('limit', 10)\n"
        "def ratio(output, context):\n    return output.count('a') / max(len(output), 1)\n"
        "def scored(output, context):\n"
        "    return Score(name='x', value=0.2, passed=False, reason=context.case.id)\n"
        "def boom(output, context):\n    raise ValueError('not json')\n"
        "def weird(output, context):\n    return 'yes'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_python_assertions_accept_bool_number_and_score(user_module: str) -> None:
    short = check({"type": "python", "function": f"{user_module}:short", "args": {"limit": 3}}, "abcd")
    assert short.passed is False and short.name == "python:short"
    ratio = check({"type": "python", "function": f"{user_module}:ratio", "threshold": 0.5}, "aab")
    assert ratio.passed is True and ratio.value == pytest.approx(2 / 3)
    scored = check({"type": "python", "function": f"{user_module}:scored", "name": "custom"}, "x")
    assert (scored.name, scored.passed, scored.reason) == ("custom", False, "c1")


def test_python_assertion_that_raises_fails_with_error(user_module: str) -> None:
    score = check({"type": "python", "function": f"{user_module}:boom"}, "x")
    assert score.passed is False and score.error == "ValueError: not json"


def test_python_assertion_with_bad_return_or_unknown_path_is_a_config_error(user_module: str) -> None:
    with pytest.raises(EvalSuiteError, match="returned str; expected a bool, a finite number or a Score"):
        check({"type": "python", "function": f"{user_module}:weird"}, "x")
    with pytest.raises(EvalSuiteError, match="no module named 'llmmon_no_such_module'"):
        check({"type": "python", "function": "llmmon_no_such_module:fn"}, "x")
