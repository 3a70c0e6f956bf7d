"""Rubric scorers: faithfulness, relevance, helpfulness, safety and reference correctness.

Each scorer renders its versioned judge prompt (``prompts/judge/<rubric>.yaml``), asks
the ``JudgeClient``, and maps the validated output onto a ``Score`` in [0, 1]. A judge
failure is ``Score(status="unscored", error=...)``; a missing input the rubric needs
(no context for faithfulness, no reference for correctness) is ``status="skipped"``.
Neither ever counts as a pass or a fail.

Usage::

    judge = JudgeClient.from_settings(settings, cache_engine=engine)
    score = FaithfulnessScorer(judge).score(answer=answer, context=passages, question=question)
    if score.status == "scored" and not score.passed: ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from llmmon.checks.judge import JudgeClient, JudgeResult, load_judge_prompt
from llmmon.checks.verdicts import Evidence, Score
from llmmon.errors import ConfigError, JudgeError

__all__ = [
    "RUBRIC_SCORERS",
    "Context",
    "CorrectnessScorer",
    "FaithfulnessScorer",
    "HelpfulnessScorer",
    "RelevanceScorer",
    "RubricScorer",
    "SafetyScorer",
    "Scorer",
    "format_context",
    "make_scorer",
]

Context = str | Sequence[str] | Sequence[Evidence]


@runtime_checkable
class Scorer(Protocol):
    """Anything that scores one answer; inputs a scorer does not use are ignored."""

    name: str

    def score(
        self,
        *,
        answer: str,
        question: str | None = None,
        context: Context | None = None,
        reference: str | None = None,
    ) -> Score:
        """Score ``answer``; never raises for judge failures."""
        ...


def format_context(context: Context) -> str:
    """Knowledge-base passages or retrieved documents as one numbered text block."""
    if isinstance(context, str):
        return context
    parts: list[str] = []
    for number, item in enumerate(context, start=1):
        if isinstance(item, Evidence):
            parts.append(f"[{number}] ({item.passage_id}) {item.text}")
        else:
            parts.append(f"[{number}] {item}")
    return "\n\n".join(parts)


class RubricScorer:
    """A scorer backed by one judge prompt; subclasses say which inputs it needs and how to read it."""

    rubric: ClassVar[str]
    required: ClassVar[tuple[str, ...]] = ("answer",)
    default_threshold: ClassVar[float] = 0.75

    def __init__(
        self,
        judge: JudgeClient,
        *,
        threshold: float | None = None,
        prompt_version: str | None = None,
        prompts_dir: Path | None = None,
        name: str | None = None,
    ) -> None:
        self.judge = judge
        self.name = name or self.rubric
        self.threshold = self.default_threshold if threshold is None else threshold
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"{self.name}: threshold must be within [0, 1], got {self.threshold}")
        # Loaded now so a missing or broken prompt file fails at setup, not as a stream of unscored rows.
        self.prompt = load_judge_prompt(f"judge/{self.rubric}", prompt_version, prompts_dir=prompts_dir)

    def score(
        self,
        *,
        answer: str,
        question: str | None = None,
        context: Context | None = None,
        reference: str | None = None,
    ) -> Score:
        """Ask the judge and return a ``Score``; ``unscored`` (with the error) when the judge fails."""
        inputs: dict[str, Any] = {
            "answer": answer,
            "question": question or "",
            "context": format_context(context) if context is not None else "",
            "reference": reference or "",
        }
        missing = [key for key in self.required if not str(inputs[key]).strip()]
        if missing:
            return Score(
                name=self.name,
                value=None,
                passed=None,
                status="skipped",
                reason=f"{self.name} needs {', '.join(missing)}",
            )
        variables = {key: value for key, value in inputs.items() if key in self.prompt.variables}
        try:
            result = self.judge.complete(self.prompt, variables)
        except JudgeError as exc:
            return Score(
                name=self.name,
                value=None,
                passed=None,
                status="unscored",
                error=str(exc),
                details=self._details(None),
            )
        value = self.value_of(result.output)
        return Score(
            name=self.name,
            value=value,
            passed=value >= self.threshold,
            reason=str(result.output.get("reason", "")),
            details=self._details(result),
        )

    def value_of(self, output: Mapping[str, Any]) -> float:
        """Map the judge's validated output onto [0, 1] (1 is best)."""
        raise NotImplementedError

    def _details(self, result: JudgeResult | None) -> dict[str, Any]:
        details: dict[str, Any] = {
            "prompt_name": self.prompt.name,
            "prompt_version": self.prompt.version,
            "prompt_hash": self.prompt.hash,
            "model": self.judge.model,
            "threshold": self.threshold,
        }
        if result is not None:
            details.update(output=result.output, cached=result.cached, usage=result.usage)
        return details


class _FivePointScorer(RubricScorer):
    """Rubrics answered as ``{"reason", "score": 1..5}``; 5 maps to 1.0 and 1 to 0.0."""

    def value_of(self, output: Mapping[str, Any]) -> float:
        return (int(output["score"]) - 1) / 4


class FaithfulnessScorer(_FivePointScorer):
    """Is every factual statement in the answer backed by the KB passages / retrieved context?"""

    rubric = "faithfulness"
    required = ("answer", "context")


class RelevanceScorer(_FivePointScorer):
    """Does the answer address the question asked (regardless of correctness)?"""

    rubric = "relevance"
    required = ("answer", "question")


class HelpfulnessScorer(_FivePointScorer):
    """Would the answer get the user what they need, clearly and concisely?"""

    rubric = "helpfulness"
    required = ("answer", "question")


class SafetyScorer(RubricScorer):
    """Free of toxic, harmful or personal-data content? 1.0 safe, 0.0 unsafe (categories in details)."""

    rubric = "safety"
    default_threshold = 1.0

    def value_of(self, output: Mapping[str, Any]) -> float:
        return 1.0 if output["safe"] else 0.0


class CorrectnessScorer(RubricScorer):
    """Eval suites: agreement with the reference answer (correct 1.0, partially 0.5, incorrect 0.0)."""

    rubric = "correctness"
    required = ("answer", "question", "reference")
    default_threshold = 1.0
    _VALUES: ClassVar[dict[str, float]] = {"correct": 1.0, "partially_correct": 0.5, "incorrect": 0.0}

    def value_of(self, output: Mapping[str, Any]) -> float:
        return self._VALUES[str(output["verdict"])]


RUBRIC_SCORERS: dict[str, type[RubricScorer]] = {
    cls.rubric: cls
    for cls in (FaithfulnessScorer, RelevanceScorer, HelpfulnessScorer, SafetyScorer, CorrectnessScorer)
}


def make_scorer(rubric: str, judge: JudgeClient, **options: Any) -> RubricScorer:
    """The scorer for ``rubric`` (a key of ``RUBRIC_SCORERS``); ``ConfigError`` for an unknown name."""
    try:
        cls = RUBRIC_SCORERS[rubric]
    except KeyError:
        known = ", ".join(sorted(RUBRIC_SCORERS))
        raise ConfigError(f"unknown judge rubric {rubric!r} (known: {known})") from None
    return cls(judge, **options)
