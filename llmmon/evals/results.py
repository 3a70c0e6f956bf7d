"""What one eval run produced, in the shape the gate and the reports consume.

The runner (and ``--rescore``) build these from target calls or stored ``EvalResult`` rows; the
gate never calls a target or a judge itself, which keeps it fast and testable by simulation.

A *trial* is one call of the target on one case (one repeat) plus its assertion scores. A
case's verdict per trial is: failed if the target raised or any assertion failed; unscored if
nothing failed but some assertion could not be decided (judge down); passed otherwise.
Skipped assertions (judge not configured) do not count either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from llmmon.checks.verdicts import Score

__all__ = ["PASS_METRIC", "CaseResult", "Observation", "RunResults", "TrialResult"]

#: The case-level verdict metric: 1 when every assertion passed.
PASS_METRIC = "pass"


@dataclass(frozen=True)
class Observation:
    """The target's output for one trial and what was measured about the call."""

    output: str
    latency_ms: float | None = None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


@dataclass(frozen=True)
class TrialResult:
    """One repeat of one case.

    ``error`` is a target failure (exception, timeout): the trial *fails* with the error kept.
    ``infrastructure_error`` means nothing could be decided (target or judge unreachable): the
    trial is *unscored*, never a pass.
    """

    observation: Observation | None
    scores: tuple[Score, ...] = ()
    error: str | None = None
    infrastructure_error: str | None = None
    judge_cost_usd: float = 0.0

    @property
    def verdict(self) -> Literal["passed", "failed", "unscored"]:
        """The case-level verdict of this trial (see module docstring)."""
        if self.infrastructure_error is not None:
            return "unscored"
        if self.error is not None:
            return "failed"
        decided = [s for s in self.scores if s.status == "scored"]
        if any(s.passed is False for s in decided):
            return "failed"
        if any(s.status == "unscored" or (s.status == "scored" and s.passed is None) for s in self.scores):
            return "unscored"
        return "passed"

    def metric(self, name: str) -> float | None:
        """This trial's value of a metric: ``pass`` (1/0) or an assertion's score (None if unscored)."""
        if name == PASS_METRIC:
            verdict = self.verdict
            return None if verdict == "unscored" else float(verdict == "passed")
        if self.error is not None and self.infrastructure_error is None:
            return 0.0  # a failed call fails every assertion it would have had
        for score in self.scores:
            if score.name == name:
                if score.status != "scored":
                    return None
                if score.value is not None:
                    return float(score.value)
                return None if score.passed is None else float(score.passed)
        return None


@dataclass(frozen=True)
class CaseResult:
    """All trials of one case in one run."""

    case_id: str
    case_hash: str
    trials: tuple[TrialResult, ...]
    must_pass: bool = False
    tags: tuple[str, ...] = ()

    def metric(self, name: str) -> float | None:
        """Mean over the scored trials (with repeats: the pass rate); None when no trial was scored."""
        values = [v for v in (t.metric(name) for t in self.trials) if v is not None]
        return sum(values) / len(values) if values else None

    @property
    def verdicts(self) -> tuple[str, ...]:
        """Per-trial verdicts, in repeat order."""
        return tuple(t.verdict for t in self.trials)


@dataclass(frozen=True)
class RunResults:
    """One run of a suite: its cases, fingerprints and cost."""

    suite_name: str
    suite_hash: str
    cases: tuple[CaseResult, ...]
    run_id: str | None = None
    label: str | None = None
    fingerprint: Mapping[str, str | None] = field(default_factory=dict)
    chatbot_cost_usd: float = 0.0
    judge_cost_usd: float = 0.0
    incomplete: bool = False
    infrastructure_errors: tuple[str, ...] = ()
