"""Scorers for the suite's ``judge``, ``correct`` and ``no_hallucination`` assertions.

They adapt the rubric scorers of ``llmmon.checks.scorers`` (over one ``JudgeClient``) and the
``FactChecker`` over the suite's knowledge base to the ``Scorer`` protocol of
``llmmon.evals.assertions``. Without a judge, ``judge``/``correct`` stay *skipped (not
configured)*; the fact check needs no judge. Usage::

    setup = build_scorers(suite, judge=judge, engine=engine)
    scores = evaluate_assertions(..., scorers=setup.scorers)
    setup.fingerprint        # judge model, judge prompt hashes, KB version
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmmon.checks.verdicts import Score
from llmmon.errors import ConfigError, KnowledgeBaseError
from llmmon.evals.assertions import Scorer
from llmmon.evals.results import Observation
from llmmon.evals.suite import (
    CorrectAssertion,
    EvalCase,
    EvalSuite,
    JudgeAssertion,
    NoHallucinationAssertion,
    canonical_hash,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from llmmon.checks.factcheck import FactChecker
    from llmmon.checks.judge import JudgeClient
    from llmmon.checks.scorers import RubricScorer
    from llmmon.knowledge.index import KnowledgeIndex

__all__ = [
    "FactCheckScorer",
    "JudgeRubricScorer",
    "ScoringSetup",
    "build_scorers",
    "is_judge_unreachable",
    "resolve_knowledge_base",
]


def is_judge_unreachable(score: Score) -> bool:
    """An unscored judge score caused by the endpoint failing (``JudgeTransportError``), not bad output."""
    error = score.error or ""
    return score.status == "unscored" and error.startswith("judge endpoint") and "failed after" in error


class JudgeRubricScorer:
    """``judge`` (any rubric in ``prompts/judge/``) and ``correct`` (the correctness rubric) via one judge."""

    def __init__(
        self,
        judge: JudgeClient,
        *,
        default_rubric: str | None = None,
        prompts_dir: Path | None = None,
        index: KnowledgeIndex | None = None,
    ) -> None:
        self.judge = judge
        self.default_rubric = default_rubric
        self.prompts_dir = prompts_dir
        self.index = index
        self._scorers: dict[tuple[str, float], RubricScorer] = {}
        self._lock = threading.Lock()

    def scorer_for(self, rubric: str, threshold: float) -> RubricScorer:
        """The rubric scorer (its prompt loaded once), per rubric and threshold."""
        from llmmon.checks.scorers import make_scorer

        key = (rubric.removeprefix("judge/"), threshold)
        with self._lock:
            if key not in self._scorers:
                self._scorers[key] = make_scorer(key[0], self.judge, threshold=threshold, prompts_dir=self.prompts_dir)
            return self._scorers[key]

    def score(
        self,
        assertion: JudgeAssertion | CorrectAssertion | NoHallucinationAssertion,
        *,
        case: EvalCase,
        observation: Observation,
    ) -> Score:
        """Ask the judge; transport and output failures come back ``unscored`` (never pass)."""
        if isinstance(assertion, CorrectAssertion):
            scorer = self.scorer_for("correctness", assertion.threshold)
            return scorer.score(
                answer=observation.output,
                question=case.question,
                reference=assertion.reference or case.reference,
            )
        if not isinstance(assertion, JudgeAssertion):
            raise TypeError(f"JudgeRubricScorer cannot score {assertion.type!r}")
        scorer = self.scorer_for(assertion.rubric, assertion.threshold)
        context = self.index.search(case.question, k=5) if self.index is not None and case.question else None
        return scorer.score(
            answer=observation.output, question=case.question, context=context, reference=case.reference
        )


class FactCheckScorer:
    """``no_hallucination``: the KB fact check; fails on any contradicted claim."""

    def __init__(self, checkers: Mapping[str, FactChecker], *, default_kb: str | None) -> None:
        self.checkers = dict(checkers)
        self.default_kb = default_kb

    def score(
        self,
        assertion: JudgeAssertion | CorrectAssertion | NoHallucinationAssertion,
        *,
        case: EvalCase,
        observation: Observation,
    ) -> Score:
        """Check the output's claims against the KB; the reason quotes the contradicted claims."""
        if not isinstance(assertion, NoHallucinationAssertion):
            raise TypeError(f"FactCheckScorer cannot score {assertion.type!r}")
        kb = assertion.knowledge_base or self.default_kb
        checker = self.checkers.get(kb or "")
        if checker is None:
            return Score(
                name=assertion.label, value=None, passed=None, status="skipped",
                reason="no knowledge base configured for no_hallucination",
            )  # fmt: skip
        result = checker.check(observation.output, question=case.question)
        contradicted = [c for c in result.claims if c.verdict == "contradicted"]
        if contradicted:
            shown = "; ".join(
                f"{c.claim.text!r} ({c.reason})" if c.reason else repr(c.claim.text) for c in contradicted
            )
            reason = f"{len(contradicted)} contradicted claim(s): {shown}"
        else:
            reason = f"no contradicted claim ({len(result.claims)} checked, answer {result.verdict})"
        return Score(
            name=assertion.label,
            value=0.0 if contradicted else 1.0,
            passed=not contradicted,
            reason=reason[:1000],
            details={"kb": kb, "verdict": result.verdict, "hallucination_score": result.score},
        )


@dataclass
class ScoringSetup:
    """The scorers of one run and the fingerprint components they contribute."""

    scorers: dict[str, Scorer]
    judge_model: str | None = None
    judge_prompt_hashes: dict[str, str] = field(default_factory=dict)
    kb_version: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def fingerprint(self) -> dict[str, str | None]:
        """What a gate report compares between runs."""
        return {
            "judge_model": self.judge_model,
            "judge_prompts": canonical_hash(self.judge_prompt_hashes) if self.judge_prompt_hashes else None,
            "kb_version": self.kb_version,
        }


def resolve_knowledge_base(name: str, *, suite_dir: Path | None, engine: Engine | None) -> KnowledgeIndex:
    """A KB named in a suite: a directory/file (relative to the suite, then the working directory), else
    a knowledge base stored in the database (``llmmon kb ingest``)."""
    from llmmon.knowledge import index_from_paths, load_index

    candidates = [suite_dir / name] if suite_dir is not None else []
    candidates.append(Path(name))
    for path in candidates:
        if path.exists():
            return index_from_paths([path], name=path.name)
    if engine is None:
        raise ConfigError(f"knowledge base {name!r}: no such directory and no database to load it from")
    try:
        return load_index(engine, name)
    except KnowledgeBaseError as exc:
        raise ConfigError(
            f"knowledge base {name!r}: not a directory next to the suite and not in the database ({exc}); "
            f"ingest it with `llmmon kb ingest {name} DIR` or give a path"
        ) from exc


def build_scorers(
    suite: EvalSuite,
    *,
    judge: JudgeClient | None,
    engine: Engine | None = None,
    prompts_dir: Path | None = None,
) -> ScoringSetup:
    """Scorers for every scorer-type assertion the suite uses; KB and judge prompts are loaded now."""
    from llmmon.checks.factcheck import FactChecker
    from llmmon.checks.judge import load_judge_prompt

    assertions = [a for case in suite.cases for a in suite.assertions_for(case)]
    setup = ScoringSetup(scorers={})
    suite_dir = suite.path.parent if suite.path is not None else None

    kb_names = {a.knowledge_base or suite.knowledge_base for a in assertions if isinstance(a, NoHallucinationAssertion)}
    if None in kb_names:
        raise ConfigError("a no_hallucination assertion needs `knowledge_base` (in the suite or the assertion)")
    checkers: dict[str, FactChecker] = {}
    versions: list[str] = []
    for name in sorted(n for n in kb_names if n is not None):
        index = resolve_knowledge_base(name, suite_dir=suite_dir, engine=engine)
        checkers[name] = FactChecker(index)
        versions.append(index.version_hash)
    if checkers:
        setup.scorers["no_hallucination"] = FactCheckScorer(checkers, default_kb=suite.knowledge_base)
        setup.kb_version = versions[0] if len(versions) == 1 else canonical_hash(versions)

    rubrics = sorted(
        {a.rubric.removeprefix("judge/") for a in assertions if isinstance(a, JudgeAssertion)}
        | ({"correctness"} if any(isinstance(a, CorrectAssertion) for a in assertions) else set())
    )
    if judge is None:
        if rubrics:
            setup.notes.append(
                f"judge not configured: {', '.join(rubrics)} assertions are skipped "
                "(set LLMMON_JUDGE_MODEL and LLMMON_JUDGE_BASE_URL to run them)"
            )
        return setup
    suite_index: Any = None  # the suite's KB gives rubrics like faithfulness their context
    if suite.knowledge_base is not None and suite.knowledge_base in checkers:
        suite_index = checkers[suite.knowledge_base].index
    rubric_scorer = JudgeRubricScorer(
        judge, default_rubric=suite.judge.rubric, prompts_dir=prompts_dir, index=suite_index
    )
    for rubric in rubrics:
        setup.judge_prompt_hashes[f"judge/{rubric}"] = load_judge_prompt(
            f"judge/{rubric}", prompts_dir=prompts_dir
        ).hash
    if rubrics:
        setup.scorers["judge"] = rubric_scorer
        setup.scorers["correct"] = rubric_scorer
        setup.judge_model = judge.model
    return setup
