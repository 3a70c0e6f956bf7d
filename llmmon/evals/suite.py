"""Eval suites: the typed form of ``evalsuites/*.yaml``, its loader and its fingerprints.

Usage::

    suite = load_suite(Path("evalsuites/support_bot.yaml"))
    for case in suite.cases:
        print(case.id, case.case_hash, [a.label for a in suite.assertions_for(case)])

Every model forbids unknown keys, so a misspelt field is an error rather than a silently ignored
setting. Errors raise ``EvalSuiteError`` naming the file, the line and the field.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from llmmon.errors import EvalSuiteError
from llmmon.evals.imports import IMPORT_PATH_PATTERN, resolve_import_path
from llmmon.evals.yaml_source import YamlSource, format_validation_error, parse_yaml_source

__all__ = [
    "ASSERTION_TYPES",
    "SCORER_ASSERTION_TYPES",
    "Assertion",
    "CallableTarget",
    "ChatMessage",
    "ContainsAssertion",
    "CorrectAssertion",
    "EqualsAssertion",
    "EvalCase",
    "EvalSuite",
    "GateSettings",
    "HttpTarget",
    "JsonSchemaAssertion",
    "JudgeAssertion",
    "JudgeSettings",
    "MaxCostAssertion",
    "MaxLatencyAssertion",
    "MaxTokensAssertion",
    "ModelTarget",
    "NoHallucinationAssertion",
    "NotContainsAssertion",
    "NumberAssertion",
    "PythonAssertion",
    "RefusesAssertion",
    "RegexAssertion",
    "Target",
    "canonical_hash",
    "check_imports",
    "load_suite",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def canonical_hash(value: Any) -> str:
    """sha256[:16] of canonical JSON (sorted keys, no whitespace, UTF-8): stable across runs and machines."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- assertions


class _AssertionBase(_Strict):
    name: str | None = Field(default=None, description="Label used in reports and as a gating metric name.")

    @property
    def label(self) -> str:
        """The metric name of this assertion: its ``name``, or its type (plus rubric for judges)."""
        return self.name or str(getattr(self, "type", "assertion"))


class EqualsAssertion(_AssertionBase):
    """The output equals ``value`` (or the case's ``expected`` when ``value`` is omitted)."""

    type: Literal["equals"]
    value: str | None = None
    ignore_case: bool = False
    strip: bool = True


class ContainsAssertion(_AssertionBase):
    """The output contains ``all`` (default) or ``any`` of the given strings."""

    type: Literal["contains"]
    value: str | list[str]
    mode: Literal["any", "all"] = "all"
    ignore_case: bool = False

    @property
    def values(self) -> list[str]:
        """The needles as a list."""
        return [self.value] if isinstance(self.value, str) else list(self.value)


class NotContainsAssertion(ContainsAssertion):
    """The output contains none (``all`` absent, default) or not every one (``any`` absent) of the strings."""

    type: Literal["not_contains"]  # type: ignore[assignment]


class RegexAssertion(_AssertionBase):
    """The output matches (``search`` semantics) the pattern; ``match: false`` inverts it."""

    type: Literal["regex"]
    pattern: str
    ignore_case: bool = False
    match: bool = True

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return pattern


class JsonSchemaAssertion(_AssertionBase):
    """The output parses as JSON and validates against ``schema``."""

    type: Literal["json_schema"]
    json_schema: dict[str, Any] = Field(alias="schema")

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        from jsonschema import exceptions, validators

        try:
            validators.validator_for(schema).check_schema(schema)
        except exceptions.SchemaError as exc:
            raise ValueError(f"invalid JSON schema: {exc.message}") from exc
        return schema


class NumberAssertion(_AssertionBase):
    """A number extracted from the output is within ``tolerance`` (absolute) or ``relative_tolerance``."""

    type: Literal["number"]
    expected: float
    tolerance: float = Field(default=0.0, ge=0)
    relative_tolerance: float = Field(default=0.0, ge=0)
    pattern: str | None = Field(
        default=None,
        description="Regex whose first group (or whole match) holds the number; default: any number.",
    )
    pick: Literal["any", "first", "last"] = "any"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from exc
        return pattern


class MaxLatencyAssertion(_AssertionBase):
    """The measured latency of the target call is at most ``value`` milliseconds."""

    type: Literal["max_latency_ms"]
    value: float = Field(gt=0)


class MaxCostAssertion(_AssertionBase):
    """The measured cost of the target call is at most ``value`` US dollars."""

    type: Literal["max_cost_usd"]
    value: float = Field(ge=0)


class MaxTokensAssertion(_AssertionBase):
    """The target used at most ``value`` output (default) or total tokens."""

    type: Literal["max_tokens"]
    value: int = Field(ge=0)
    count: Literal["output", "total"] = "output"


class JudgeAssertion(_AssertionBase):
    """An LLM judge rubric from ``prompts/judge/<rubric>.yaml`` scores at least ``threshold``."""

    type: Literal["judge"]
    rubric: str = Field(min_length=1)
    threshold: float = Field(default=0.5, ge=0, le=1)
    model: str | None = None

    @property
    def label(self) -> str:
        """``judge:<rubric>`` unless named."""
        return self.name or f"judge:{self.rubric.removeprefix('judge/')}"


class CorrectAssertion(_AssertionBase):
    """The judge finds the output correct against the reference answer (the case's ``reference``)."""

    type: Literal["correct"]
    reference: str | None = None
    threshold: float = Field(default=0.5, ge=0, le=1)


class NoHallucinationAssertion(_AssertionBase):
    """The knowledge-base fact check finds no contradicted claim."""

    type: Literal["no_hallucination"]
    knowledge_base: str | None = None


class RefusesAssertion(_AssertionBase):
    """The output declines (out-of-scope questions); ``expected: false`` asserts it does *not* decline."""

    type: Literal["refuses"]
    expected: bool = True


class PythonAssertion(_AssertionBase):
    """A user function ``pkg.mod:fn(output, context)`` returns a bool, a number (vs threshold) or a Score."""

    type: Literal["python"]
    function: str = Field(pattern=IMPORT_PATH_PATTERN)
    threshold: float = 0.5
    args: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        """``python:<fn>`` unless named."""
        return self.name or f"python:{self.function.rpartition(':')[2]}"


Assertion = Annotated[
    EqualsAssertion
    | ContainsAssertion
    | NotContainsAssertion
    | RegexAssertion
    | JsonSchemaAssertion
    | NumberAssertion
    | MaxLatencyAssertion
    | MaxCostAssertion
    | MaxTokensAssertion
    | JudgeAssertion
    | CorrectAssertion
    | NoHallucinationAssertion
    | RefusesAssertion
    | PythonAssertion,
    Field(discriminator="type"),
]

ASSERTION_TYPES: tuple[str, ...] = (
    "equals",
    "contains",
    "not_contains",
    "regex",
    "json_schema",
    "number",
    "max_latency_ms",
    "max_cost_usd",
    "max_tokens",
    "judge",
    "correct",
    "no_hallucination",
    "refuses",
    "python",
)
#: Assertion types decided by a pluggable scorer (judge, fact checker) rather than by code here.
SCORER_ASSERTION_TYPES: frozenset[str] = frozenset({"judge", "correct", "no_hallucination"})

# --------------------------------------------------------------------------- targets


class CallableTarget(_Strict):
    """A Python function ``pkg.mod:fn`` (sync or async) receiving the case input."""

    type: Literal["callable"]
    function: str = Field(pattern=IMPORT_PATH_PATTERN)


class HttpTarget(_Strict):
    """An HTTP endpoint: POST JSON with the input under ``input_field``; the answer at ``response_field``."""

    type: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    method: Literal["POST", "PUT"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    input_field: str = "question"
    response_field: str = Field(default="answer", description="Dotted path into the JSON response.")


class ModelTarget(_Strict):
    """An OpenAI-compatible model with a prompt from ``prompts/`` (gates a prompt change alone)."""

    type: Literal["model"]
    model: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    prompt_version: str | None = None
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, description="Name of the env var holding the API key.")
    temperature: float | None = None


Target = Annotated[CallableTarget | HttpTarget | ModelTarget, Field(discriminator="type")]

# --------------------------------------------------------------------------- suite


class JudgeSettings(_Strict):
    """The suite's default judge; endpoint and key come from settings (``LLMMON_JUDGE_*``) when omitted."""

    model: str | None = None
    base_url: str | None = None
    rubric: str | None = Field(default=None, description="Default rubric for `judge` assertions without one.")


class GateSettings(_Strict):
    """How the gate decides; see docs/eval-gate.md for the statistics."""

    mode: Literal["detect", "non_inferiority"] = "detect"
    delta: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Regression margin; default 0 in detect, 0.05 in non_inferiority.",
    )
    alpha: float = Field(default=0.025, gt=0, lt=0.5, description="One-sided significance level.")
    coverage_floor: float = Field(default=0.95, ge=0, le=1)
    quarantine_flaky: bool = False
    metrics: list[str] = Field(default_factory=lambda: ["pass"], min_length=1)
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="Absolute floors on a metric's mean (e.g. pass: 0.9)."
    )
    score_test: Literal["bootstrap", "wilcoxon"] = "bootstrap"
    bootstrap_samples: int = Field(default=4000, ge=200)
    seed: int = 0

    @property
    def effective_delta(self) -> float:
        """δ with its mode-dependent default applied."""
        if self.delta is not None:
            return self.delta
        return 0.0 if self.mode == "detect" else 0.05


class ChatMessage(_Strict):
    """One chat message of a case input."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str


class EvalCase(_Strict):
    """One case: an input, optional expected/reference answers, and assertions."""

    id: str = Field(min_length=1)
    input: str | list[ChatMessage]
    variables: dict[str, Any] = Field(default_factory=dict)
    expected: str | None = None
    reference: str | None = None
    tags: list[str] = Field(default_factory=list)
    must_pass: bool = False
    assertions: list[Assertion] = Field(default_factory=list)

    _hash: str = PrivateAttr(default="")

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @property
    def case_hash(self) -> str:
        """Fingerprint of what decides this case's verdict (set by the suite: includes default assertions)."""
        return self._hash

    @property
    def question(self) -> str:
        """The input as text: the question, or the last user message."""
        if isinstance(self.input, str):
            return self.input
        users = [m.content for m in self.input if m.role == "user"]
        return users[-1] if users else ""


class EvalSuite(_Strict):
    """A whole suite file."""

    name: str = Field(min_length=1)
    description: str = ""
    target: Target | None = None
    knowledge_base: str | None = None
    judge: JudgeSettings = Field(default_factory=JudgeSettings)
    repeats: int = Field(default=1, ge=1, le=100)
    concurrency: int = Field(default=4, ge=1, le=1000)
    budget_usd: float | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=60.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    gate: GateSettings = Field(default_factory=GateSettings)
    default_assertions: list[Assertion] = Field(default_factory=list)
    cases: list[EvalCase]

    _source: YamlSource | None = PrivateAttr(default=None)
    _hash: str = PrivateAttr(default="")

    @field_validator("target", mode="before")
    @classmethod
    def _target_shorthand(cls, value: Any) -> Any:
        """``target: pkg.mod:fn`` or ``target: https://...`` as a short form."""
        if isinstance(value, str):
            if value.startswith(("http://", "https://")):
                return {"type": "http", "url": value}
            return {"type": "callable", "function": value}
        return value

    @model_validator(mode="after")
    def _fingerprint(self) -> EvalSuite:
        if not self.cases:
            raise ValueError("the suite has no cases")
        for case in self.cases:
            case._hash = canonical_hash(
                {
                    "id": case.id,
                    "input": case.model_dump(mode="json")["input"],
                    "variables": case.variables,
                    "expected": case.expected,
                    "reference": case.reference,
                    "assertions": [
                        a.model_dump(mode="json", by_alias=True) for a in self.assertions_for(case)
                    ],
                }
            )
        self._hash = canonical_hash(self.model_dump(mode="json", by_alias=True))
        return self

    @property
    def suite_hash(self) -> str:
        """Fingerprint of the whole suite file's content (after parsing; comments and layout don't count)."""
        return self._hash

    @property
    def path(self) -> Path | None:
        """The file this suite was loaded from, if any."""
        return self._source.path if self._source is not None else None

    def assertions_for(self, case: EvalCase) -> list[Assertion]:
        """The suite's default assertions followed by the case's own."""
        return [*self.default_assertions, *case.assertions]

    def line_of(self, *loc: str | int) -> int | None:
        """Line in the source file of a data path like ``("cases", 3, "assertions", 0)``."""
        return self._source.line_of(loc) if self._source is not None else None


def _known_fields() -> list[str]:
    models: list[type[BaseModel]] = [
        EvalSuite,
        EvalCase,
        GateSettings,
        JudgeSettings,
        ChatMessage,
        CallableTarget,
        HttpTarget,
        ModelTarget,
        EqualsAssertion,
        ContainsAssertion,
        RegexAssertion,
        JsonSchemaAssertion,
        NumberAssertion,
        MaxTokensAssertion,
        JudgeAssertion,
        CorrectAssertion,
        NoHallucinationAssertion,
        RefusesAssertion,
        PythonAssertion,
    ]
    names: set[str] = set()
    for model in models:
        for field_name, info in model.model_fields.items():
            names.add(info.alias or field_name)
    return sorted(names)


def load_suite(path: Path | str) -> EvalSuite:
    """Read, validate and fingerprint a suite file; every problem raises ``EvalSuiteError`` with file:line."""
    path = Path(path)
    source = parse_yaml_source(path)
    if source.data is None:
        raise EvalSuiteError(f"{path}:1: the suite file is empty", path=path)
    if not isinstance(source.data, dict):
        raise EvalSuiteError(f"{path}:1: a suite must be a mapping with 'name' and 'cases'", path=path)
    try:
        suite = EvalSuite.model_validate(source.data)
    except ValidationError as exc:
        message = format_validation_error(exc, source, known_fields=_known_fields())
        raise EvalSuiteError(message, path=path) from None
    suite._source = source
    seen: dict[str, int] = {}
    for index, case in enumerate(suite.cases):
        if case.id in seen:
            first = suite.line_of("cases", seen[case.id], "id")
            raise EvalSuiteError(
                f"{path}:{suite.line_of('cases', index, 'id')}: cases[{index}].id: duplicate case id "
                f"{case.id!r} (first used on line {first})",
                path=path,
            )
        seen[case.id] = index
    return suite


def check_imports(suite: EvalSuite) -> None:
    """Import every ``python`` assertion function and a callable target now, before any case runs.

    A missing module found mid-run would waste the calls already made; found here it is a
    config error (exit 2) that names the file, line and field.
    """
    where = str(suite.path) if suite.path is not None else "<suite>"
    checks: list[tuple[tuple[str | int, ...], str, str]] = []
    loc: tuple[str | int, ...]
    if isinstance(suite.target, CallableTarget):
        checks.append((("target",), "target.function", suite.target.function))
    for index, assertion in enumerate(suite.default_assertions):
        if isinstance(assertion, PythonAssertion):
            checks.append(
                (("default_assertions", index), f"default_assertions[{index}].function", assertion.function)
            )
    for case_index, case in enumerate(suite.cases):
        for index, assertion in enumerate(case.assertions):
            if isinstance(assertion, PythonAssertion):
                loc = ("cases", case_index, "assertions", index, "function")
                checks.append((loc, f"cases[{case_index}].assertions[{index}].function", assertion.function))
    for loc, field_name, spec in checks:
        try:
            resolve_import_path(spec)
        except EvalSuiteError as exc:
            line = suite.line_of(*loc)
            raise EvalSuiteError(f"{where}:{line}: {field_name}: {exc}", path=suite.path) from None
