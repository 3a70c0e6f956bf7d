"""Evaluate a case's assertions on one target output and its measured latency, cost and tokens.

Deterministic assertions are decided here. ``judge``, ``correct`` and ``no_hallucination`` are
decided by pluggable scorers (the LLM judge, the KB fact checker) passed in by type name; without
one they are ``skipped`` ("judge not configured"), which counts neither as pass nor as fail.

Usage::

    scores = evaluate_assertions(suite.assertions_for(case), case=case,
                                 observation=Observation(output="We open at 9am", latency_ms=420))
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from llmmon.checks.verdicts import Score
from llmmon.errors import EvalSuiteError
from llmmon.evals.imports import resolve_import_path
from llmmon.evals.refusal import detect_refusal
from llmmon.evals.results import Observation
from llmmon.evals.suite import (
    Assertion,
    ContainsAssertion,
    CorrectAssertion,
    EqualsAssertion,
    EvalCase,
    JsonSchemaAssertion,
    JudgeAssertion,
    MaxCostAssertion,
    MaxLatencyAssertion,
    MaxTokensAssertion,
    NoHallucinationAssertion,
    NotContainsAssertion,
    NumberAssertion,
    PythonAssertion,
    RefusesAssertion,
    RegexAssertion,
)

__all__ = [
    "AssertionContext",
    "Scorer",
    "evaluate_assertion",
    "evaluate_assertions",
    "extract_numbers",
]

ScoredAssertion = JudgeAssertion | CorrectAssertion | NoHallucinationAssertion


class Scorer(Protocol):
    """Decides a judge-type assertion (``judge``, ``correct``, ``no_hallucination``) for one output.

    Must not raise for judge failures: return ``Score(status="unscored", error=...)`` instead.
    """

    def score(self, assertion: ScoredAssertion, *, case: EvalCase, observation: Observation) -> Score:
        """Score one output; ``passed`` is None only when unscored."""
        ...


@dataclass(frozen=True)
class AssertionContext:
    """What a ``python`` assertion function receives besides the output."""

    case: EvalCase
    observation: Observation
    args: Mapping[str, Any] = field(default_factory=dict)


_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def extract_numbers(text: str) -> list[float]:
    """Every number in ``text``; thousands separators are understood ("$1,200.50" -> 1200.5)."""
    return [float(m.group(0).replace(",", "")) for m in _NUMBER.finditer(text)]


def evaluate_assertions(
    assertions: Sequence[Assertion],
    *,
    case: EvalCase,
    observation: Observation,
    scorers: Mapping[str, Scorer] | None = None,
) -> tuple[Score, ...]:
    """Evaluate each assertion in order (see ``evaluate_assertion``)."""
    return tuple(
        evaluate_assertion(a, case=case, observation=observation, scorers=scorers) for a in assertions
    )


def evaluate_assertion(
    assertion: Assertion,
    *,
    case: EvalCase,
    observation: Observation,
    scorers: Mapping[str, Scorer] | None = None,
) -> Score:
    """Decide one assertion. Scorer failures become ``unscored``; they never pass."""
    if isinstance(assertion, JudgeAssertion | CorrectAssertion | NoHallucinationAssertion):
        return _scored_by(assertion, case=case, observation=observation, scorers=scorers or {})
    if isinstance(assertion, PythonAssertion):
        return _python(assertion, case=case, observation=observation)
    handler = _DETERMINISTIC[type(assertion)]
    return handler(assertion, case, observation)


def _result(assertion: Assertion, passed: bool, reason: str, *, value: float | None = None) -> Score:
    return Score(
        name=assertion.label, value=float(passed) if value is None else value, passed=passed, reason=reason
    )


def _not_measured(assertion: Assertion, what: str) -> Score:
    return Score(
        name=assertion.label, value=None, passed=None, status="unscored", reason=f"{what} not measured"
    )


def _equals(assertion: Any, case: EvalCase, observation: Observation) -> Score:
    expected = assertion.value if assertion.value is not None else case.expected
    if expected is None:
        return Score(
            name=assertion.label,
            value=None,
            passed=None,
            status="unscored",
            reason="equals has no value and the case has no expected answer",
        )
    got = observation.output
    if assertion.strip:
        got, expected = got.strip(), expected.strip()
    if assertion.ignore_case:
        got, expected = got.casefold(), expected.casefold()
    passed = got == expected
    return _result(assertion, passed, "equal" if passed else f"expected {expected!r}, got {got[:200]!r}")


def _contains(assertion: Any, case: EvalCase, observation: Observation) -> Score:
    fold = str.casefold if assertion.ignore_case else str
    haystack = fold(observation.output)
    present = [needle for needle in assertion.values if fold(needle) in haystack]
    absent = [needle for needle in assertion.values if needle not in present]
    if isinstance(assertion, NotContainsAssertion):
        passed = not present if assertion.mode == "all" else bool(absent)
        reason = f"found {present!r}" if present else "none present"
    else:
        passed = not absent if assertion.mode == "all" else bool(present)
        reason = f"missing {absent!r}" if absent else "all present"
    return _result(assertion, passed, reason)


def _regex(assertion: Any, case: EvalCase, observation: Observation) -> Score:
    flags = re.IGNORECASE if assertion.ignore_case else 0
    match = re.search(assertion.pattern, observation.output, flags)
    passed = (match is not None) == assertion.match
    reason = f"matched {match.group(0)[:80]!r}" if match else "no match"
    return _result(assertion, passed, reason)


def _json_schema(assertion: Any, case: EvalCase, observation: Observation) -> Score:
    from jsonschema import validators

    try:
        document = json.loads(observation.output)
    except json.JSONDecodeError as exc:
        return _result(assertion, False, f"output is not JSON: {exc.msg} at position {exc.pos}")
    validator = validators.validator_for(assertion.json_schema)(assertion.json_schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    if not errors:
        return _result(assertion, True, "valid")
    first = errors[0]
    where = "/".join(str(p) for p in first.path) or "(root)"
    return _result(
        assertion,
        False,
        f"{where}: {first.message}" + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""),
    )


def _number(assertion: Any, case: EvalCase, observation: Observation) -> Score:
    if assertion.pattern is not None:
        candidates: list[float] = []
        for match in re.finditer(assertion.pattern, observation.output):
            text = match.group(1) if match.groups() else match.group(0)
            candidates.extend(extract_numbers(text or ""))
    else:
        candidates = extract_numbers(observation.output)
    if not candidates:
        return _result(assertion, False, "no number found in the output")
    if assertion.pick == "first":
        candidates = candidates[:1]
    elif assertion.pick == "last":
        candidates = candidates[-1:]
    expected = float(assertion.expected)
    allowed = max(assertion.tolerance, abs(expected) * assertion.relative_tolerance)
    best = min(candidates, key=lambda v: abs(v - expected))
    passed = math.isclose(best, expected, abs_tol=allowed + 1e-12, rel_tol=0.0)
    return _result(assertion, passed, f"found {best:g}, expected {expected:g} ± {allowed:g}")


def _max_latency(assertion: Any, case: EvalCase, observation: Observation) -> Score:
    if observation.latency_ms is None:
        return _not_measured(assertion, "latency")
    passed = observation.latency_ms <= assertion.value
    return _result(assertion, passed, f"{observation.latency_ms:.0f} ms (max {assertion.value:g} ms)")


def _max_cost(assertion: Any, case: EvalCase, observation: Observation) -> Score:
    if observation.cost_usd is None:
        return _not_measured(assertion, "cost")
    passed = observation.cost_usd <= assertion.value
    return _result(assertion, passed, f"${observation.cost_usd:.6f} (max ${assertion.value:g})")


def _max_tokens(assertion: Any, case: EvalCase, observation: Observation) -> Score:
    tokens = observation.output_tokens if assertion.count == "output" else observation.total_tokens
    if tokens is None:
        return _not_measured(assertion, f"{assertion.count} tokens")
    passed = tokens <= assertion.value
    return _result(assertion, passed, f"{tokens} {assertion.count} tokens (max {assertion.value})")


def _refuses(assertion: Any, case: EvalCase, observation: Observation) -> Score:
    phrase = detect_refusal(observation.output)
    refused = phrase is not None
    passed = refused == assertion.expected
    reason = f"declined ({phrase!r})" if refused else "answered (no decline phrase)"
    return _result(assertion, passed, reason)


_DETERMINISTIC: dict[type[Any], Callable[[Any, EvalCase, Observation], Score]] = {
    EqualsAssertion: _equals,
    ContainsAssertion: _contains,
    NotContainsAssertion: _contains,
    RegexAssertion: _regex,
    JsonSchemaAssertion: _json_schema,
    NumberAssertion: _number,
    MaxLatencyAssertion: _max_latency,
    MaxCostAssertion: _max_cost,
    MaxTokensAssertion: _max_tokens,
    RefusesAssertion: _refuses,
}


def _scored_by(
    assertion: ScoredAssertion, *, case: EvalCase, observation: Observation, scorers: Mapping[str, Scorer]
) -> Score:
    scorer = scorers.get(assertion.type)
    if scorer is None:
        what = "fact checker" if isinstance(assertion, NoHallucinationAssertion) else "judge"
        return Score(
            name=assertion.label, value=None, passed=None, status="skipped", reason=f"{what} not configured"
        )
    try:
        score = scorer.score(assertion, case=case, observation=observation)
    except Exception as exc:  # a scorer bug must not turn into a pass, nor kill the whole run
        return Score(
            name=assertion.label,
            value=None,
            passed=None,
            status="unscored",
            reason="scorer raised",
            error=f"{type(exc).__name__}: {exc}",
        )
    if score.name != assertion.label:
        score = Score(
            name=assertion.label,
            value=score.value,
            passed=score.passed,
            status=score.status,
            reason=score.reason,
            error=score.error,
            details=score.details,
        )
    return score


def _python(assertion: PythonAssertion, *, case: EvalCase, observation: Observation) -> Score:
    function = resolve_import_path(assertion.function)  # EvalSuiteError: a config problem, not a verdict
    context = AssertionContext(case=case, observation=observation, args=assertion.args)
    try:
        result = function(observation.output, context)
    except Exception as exc:
        # The user's check blew up on this output (e.g. json.loads on prose): the output fails it.
        return Score(
            name=assertion.label,
            value=0.0,
            passed=False,
            reason="assertion function raised",
            error=f"{type(exc).__name__}: {exc}",
        )
    if isinstance(result, Score):
        return (
            result
            if result.name == assertion.label
            else Score(
                name=assertion.label,
                value=result.value,
                passed=result.passed,
                status=result.status,
                reason=result.reason,
                error=result.error,
                details=result.details,
            )
        )
    if isinstance(result, bool):
        return _result(assertion, result, f"{assertion.function} returned {result}")
    if isinstance(result, int | float) and math.isfinite(result):
        passed = float(result) >= assertion.threshold
        return _result(
            assertion,
            passed,
            f"{assertion.function} returned {result:g} (threshold {assertion.threshold:g})",
            value=float(result),
        )
    raise EvalSuiteError(
        f"python assertion {assertion.function} returned {type(result).__name__}; "
        "expected a bool, a finite number or a Score"
    )
