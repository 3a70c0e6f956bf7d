"""Rubric scorers over recorded judge replies; every judge prompt file loads and is a valid schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from llmmon.checks.judge import JudgeClient, judge_prompts_dir, load_judge_prompt
from llmmon.checks.llm_verifier import LlmClaimVerifier
from llmmon.checks.scorers import (
    RUBRIC_SCORERS,
    CorrectnessScorer,
    FaithfulnessScorer,
    HelpfulnessScorer,
    RelevanceScorer,
    SafetyScorer,
    format_context,
    make_scorer,
)
from llmmon.checks.verdicts import Evidence
from llmmon.errors import ConfigError, PromptError
from llmmon.prompts import check_prompts, find_prompt_files
from tests.checks.judge.recorded import ScriptedEndpoint, ok

QUESTION = "How long is the warranty on the X200 kettle?"
ANSWER = "The X200 kettle has a two-year warranty."
PASSAGES = [
    Evidence("warranty.md#1", "warranty.md", 0, 42, "All kettles carry a 2-year limited warranty."),
    Evidence("warranty.md#2", "warranty.md", 43, 90, "Batteries are covered for six months."),
]


@pytest.fixture
def endpoint_judge() -> Iterator[tuple[ScriptedEndpoint, JudgeClient]]:
    endpoint = ScriptedEndpoint()
    with endpoint.client() as http_client:
        yield endpoint, JudgeClient("http://judge.test/v1", "gpt-4o-mini", "k", http_client=http_client)


def _reply(endpoint: ScriptedEndpoint, output: dict[str, Any]) -> None:
    endpoint.steps.append(ok(output))


@pytest.mark.parametrize(
    ("cls", "output", "value", "passed"),
    [
        (FaithfulnessScorer, {"reason": "All supported.", "score": 5}, 1.0, True),
        (FaithfulnessScorer, {"reason": "Price not in the context.", "score": 2}, 0.25, False),
        (RelevanceScorer, {"reason": "On topic.", "score": 4}, 0.75, True),
        (HelpfulnessScorer, {"reason": "Vague.", "score": 3}, 0.5, False),
        (SafetyScorer, {"reason": "Polite.", "safe": True, "categories": []}, 1.0, True),
        (
            SafetyScorer,
            {"reason": "Leaks a phone number.", "safe": False, "categories": ["personal_data"]},
            0.0,
            False,
        ),
        (CorrectnessScorer, {"reason": "Same facts.", "verdict": "correct"}, 1.0, True),
        (CorrectnessScorer, {"reason": "Misses one fact.", "verdict": "partially_correct"}, 0.5, False),
        (CorrectnessScorer, {"reason": "Wrong duration.", "verdict": "incorrect"}, 0.0, False),
    ],
)
def test_scorer_maps_the_judge_output_onto_a_score(
    endpoint_judge: tuple[ScriptedEndpoint, JudgeClient],
    cls: type[FaithfulnessScorer],
    output: dict[str, Any],
    value: float,
    passed: bool,
) -> None:
    endpoint, judge = endpoint_judge
    _reply(endpoint, output)
    score = cls(judge).score(answer=ANSWER, question=QUESTION, context=PASSAGES, reference="Two years.")

    assert (score.name, score.status, score.value, score.passed) == (cls.rubric, "scored", value, passed)
    assert score.reason == output["reason"] and score.error is None
    assert score.details["output"] == output and score.details["prompt_name"] == f"judge/{cls.rubric}"
    sent = endpoint.bodies[0]["messages"][-1]["content"]
    assert ANSWER in sent


def test_faithfulness_prompt_shows_the_passages(endpoint_judge: tuple[ScriptedEndpoint, JudgeClient]) -> None:
    endpoint, judge = endpoint_judge
    _reply(endpoint, {"reason": "Supported.", "score": 5})
    FaithfulnessScorer(judge).score(answer=ANSWER, context=PASSAGES)
    sent = endpoint.bodies[0]["messages"][-1]["content"]
    assert "[1] (warranty.md#1) All kettles carry a 2-year limited warranty." in sent
    assert "Question:" not in sent  # no question given: the optional block is left out


def test_correctness_prompt_shows_the_reference(endpoint_judge: tuple[ScriptedEndpoint, JudgeClient]) -> None:
    endpoint, judge = endpoint_judge
    _reply(endpoint, {"reason": "Same.", "verdict": "correct"})
    CorrectnessScorer(judge).score(answer=ANSWER, question=QUESTION, reference="Two years, parts and labour.")
    assert "Two years, parts and labour." in endpoint.bodies[0]["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("cls", "missing"),
    [(FaithfulnessScorer, "context"), (RelevanceScorer, "question"), (CorrectnessScorer, "reference")],
)
def test_scorer_without_a_needed_input_is_skipped_without_a_call(
    endpoint_judge: tuple[ScriptedEndpoint, JudgeClient], cls: type[FaithfulnessScorer], missing: str
) -> None:
    endpoint, judge = endpoint_judge
    inputs: dict[str, Any] = {"question": QUESTION, "context": PASSAGES, "reference": "Two years."}
    inputs[missing] = "  "
    score = cls(judge).score(answer=ANSWER, **inputs)
    assert (score.status, score.value, score.passed) == ("skipped", None, None)
    assert missing in score.reason
    assert endpoint.requests == []


def test_scorer_threshold_decides_pass(endpoint_judge: tuple[ScriptedEndpoint, JudgeClient]) -> None:
    endpoint, judge = endpoint_judge
    _reply(endpoint, {"reason": "Partly.", "score": 3})
    assert RelevanceScorer(judge, threshold=0.5).score(answer=ANSWER, question=QUESTION).passed is True
    with pytest.raises(ConfigError, match="threshold"):
        RelevanceScorer(judge, threshold=1.5)


def test_make_scorer_knows_every_rubric(endpoint_judge: tuple[ScriptedEndpoint, JudgeClient]) -> None:
    _, judge = endpoint_judge
    assert set(RUBRIC_SCORERS) == {"faithfulness", "relevance", "helpfulness", "safety", "correctness"}
    assert isinstance(make_scorer("safety", judge), SafetyScorer)
    with pytest.raises(ConfigError, match="unknown judge rubric 'toxicity'"):
        make_scorer("toxicity", judge)


def test_scorer_with_a_missing_prompt_version_fails_at_setup(
    endpoint_judge: tuple[ScriptedEndpoint, JudgeClient],
) -> None:
    _, judge = endpoint_judge
    with pytest.raises(PromptError, match="no version 'v99'"):
        RelevanceScorer(judge, prompt_version="v99")


def test_format_context_accepts_text_strings_and_evidence() -> None:
    assert format_context("plain text") == "plain text"
    assert format_context(["a", "b"]) == "[1] a\n\n[2] b"
    assert format_context(PASSAGES).startswith("[1] (warranty.md#1) All kettles")


def test_every_judge_prompt_is_locked_and_has_a_valid_output_schema() -> None:
    directory = judge_prompts_dir() / "judge"
    files, issues = check_prompts(directory)
    assert issues == []
    names = {loaded.name for loaded in files}
    assert names == {f"judge/{rubric}" for rubric in RUBRIC_SCORERS} | {"judge/claim-verification"}
    for path in find_prompt_files(directory):
        assert path.parent == directory
    for name in names:
        judge_prompt = load_judge_prompt(name)
        assert judge_prompt.output_schema is not None
        jsonschema.Draft202012Validator.check_schema(judge_prompt.output_schema)
        # The reason comes first, so a constrained model explains before it rates.
        assert judge_prompt.output_schema["required"][0] == "reason"


def test_every_judge_prompt_variable_is_supplied_by_its_user(
    endpoint_judge: tuple[ScriptedEndpoint, JudgeClient],
) -> None:
    _, judge = endpoint_judge
    supplied = {"answer", "question", "context", "reference"}
    for cls in RUBRIC_SCORERS.values():
        assert cls(judge).prompt.variables <= supplied, cls.rubric
    assert LlmClaimVerifier(judge).prompt.variables == {"claim", "passages"}


def test_judge_prompts_dir_can_be_overridden(tmp_path: Path) -> None:
    assert judge_prompts_dir(tmp_path) == tmp_path
    with pytest.raises(PromptError, match="no prompt named 'judge/relevance'"):
        load_judge_prompt("judge/relevance", prompts_dir=tmp_path)
