"""The fact checker on real indexes: verdicts, evidence, scores, tier 2 hook, failure kinds, bad input."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from llmmon.checks.factcheck import FactChecker
from llmmon.checks.verdicts import Claim, ClaimVerdict, Evidence
from llmmon.checks.verifier import ClaimVerifier
from llmmon.errors import JudgeTransportError
from llmmon.knowledge.index import KnowledgeIndex, index_from_passages
from tests.checks.conftest import passages_index

GDP_LINE = "2024년 한국의 명목 GDP는 약 1.7조 달러입니다."
SUPPORT_SET = Path(__file__).parent / "data" / "support_set.jsonl"


@pytest.fixture(scope="module")
def gdp_index() -> KnowledgeIndex:
    return passages_index(
        "대한민국은 동아시아에 있는 나라입니다. 수도는 서울입니다.",
        GDP_LINE,
        "2024년 일본의 명목 GDP는 약 4.0조 달러입니다.",
        name="economy",
    )


def test_motivating_example_wrong_trillions_is_hallucinated_with_the_kb_line(
    gdp_index: KnowledgeIndex,
) -> None:
    result = FactChecker(gdp_index).check("2024년 한국의 GDP는 약 2.1조 달러입니다.")
    assert result.verdict == "hallucinated"
    assert result.score >= 0.9
    (claim,) = result.claims
    assert claim.verdict == "contradicted" and claim.tier == "deterministic"
    assert claim.evidence[0].text == GDP_LINE
    assert claim.evidence[0].doc == "doc1.md"
    assert "2.1조 달러" in claim.reason


def test_motivating_example_right_trillions_is_supported(gdp_index: KnowledgeIndex) -> None:
    result = FactChecker(gdp_index).check("2024년 한국의 GDP는 약 1.7조 달러입니다.")
    assert result.verdict == "supported"
    assert result.claims[0].evidence[0].text == GDP_LINE
    assert result.score < 0.5


def test_number_stated_about_something_else_is_not_support(support_index: KnowledgeIndex) -> None:
    # $39 is in the KB -- as the price of the power bank, not of the watch.
    result = FactChecker(support_index).check("The Lumen Watch S2 costs $39.")
    assert result.verdict == "hallucinated"
    assert result.claims[0].verdict == "contradicted"
    assert "$249" in result.claims[0].evidence[0].text
    # and a number that appears only about another topic, with nothing on this topic, is never supported
    other = FactChecker(passages_index("Parking is free for two hours.", "The museum opened in 1990."))
    result = other.check("The store has been open for two hours every Sunday since 1990.")
    assert all(c.verdict != "supported" for c in result.claims)


def test_support_set_precision_and_every_wrong_number_time_day_price_caught(
    support_index: KnowledgeIndex,
) -> None:
    checker = FactChecker(support_index)
    cases = [json.loads(line) for line in SUPPORT_SET.read_text(encoding="utf-8").splitlines()]
    assert len(cases) >= 100 and {c["lang"] for c in cases} == {"en", "ko", "mixed"}
    flagged, true_positive, missed = 0, 0, []
    for case in cases:
        result = checker.check(case["answer"], question=case["question"])
        if result.hallucinated:
            flagged += 1
            true_positive += case["label"] == "hallucinated"
        elif case["label"] == "hallucinated" and case["error"] in ("number", "time", "day", "price"):
            missed.append(case["id"])
    assert missed == []
    assert true_positive / flagged >= 0.9


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("The store is closed on Sundays.", "supported"),
        ("The store is open on Sundays.", "hallucinated"),
        ("Yes, we ship internationally.", "hallucinated"),
        ("We do not ship internationally at the moment.", "supported"),
        ("네, 매장은 일요일에도 영업합니다.", "hallucinated"),
        ("The store closes at 8 PM on Wednesday.", "hallucinated"),
        ("On Wednesday the store is open until 9 PM.", "supported"),
        ("매장은 토요일에 오후 6시에 문을 닫습니다.", "supported"),
        ("매장은 토요일에 오후 8시에 문을 닫습니다.", "hallucinated"),
    ],
)
def test_days_times_and_polarity(support_index: KnowledgeIndex, answer: str, expected: str) -> None:
    assert FactChecker(support_index).check(answer).verdict == expected


def test_unknown_entity_is_asserted_but_unsupported(support_index: KnowledgeIndex) -> None:
    result = FactChecker(support_index).check("Our Busan store opens at 10 AM on Monday.")
    assert result.verdict == "hallucinated"
    assert "Busan" in result.claims[0].reason
    # ... unless the user brought it up and the answer denies it
    denial = FactChecker(support_index).check("We do not sell the Pixel 9.", question="Do you sell the Pixel 9?")
    assert denial.verdict != "hallucinated"


def test_unsupported_policy_is_configurable(support_index: KnowledgeIndex) -> None:
    answer = "Our Busan store opens at 10 AM on Monday."
    lenient = FactChecker(support_index, unsupported_is_hallucination=False).check(answer)
    assert lenient.verdict == "unverifiable"
    assert lenient.score < 0.5


def test_empty_answer_and_answer_without_claims(support_index: KnowledgeIndex) -> None:
    checker = FactChecker(support_index)
    empty = checker.check("   ")
    assert (empty.verdict, empty.score, empty.claims) == ("unverifiable", 0.0, ())
    assert "the answer is empty" in empty.warnings
    polite = checker.check("Hello! Thanks for reaching out. How can I help you today?")
    assert polite.verdict == "unverifiable" and polite.claims == ()
    assert "the answer makes no factual claims" in polite.warnings


def test_empty_kb_makes_everything_unverifiable_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    empty = index_from_passages([], name="nothing")
    result = FactChecker(empty).check("The store opens at 10 AM. The Lumen X9 costs $5.")
    assert result.verdict == "unverifiable"
    assert len(result.claims) == 2 and all(c.verdict == "unverifiable" for c in result.claims)
    assert any("knowledge base is empty" in w for w in result.warnings)


def test_mixed_korean_and_english(support_index: KnowledgeIndex) -> None:
    checker = FactChecker(support_index)
    good = checker.check("Lumen X1 128GB 모델은 949,000원입니다. The Lumen Watch S2 costs $249.")
    assert good.verdict == "supported"
    bad = checker.check("Lumen X1 128GB 모델은 949,000원입니다. The Lumen Watch S2 costs $299.")
    assert bad.verdict == "hallucinated"
    assert [c.verdict for c in bad.claims] == ["supported", "contradicted"]


def test_50kb_answer_is_checked_in_reasonable_time(support_index: KnowledgeIndex) -> None:
    sentence = "The store is open from 10 AM to 8 PM on Monday. "
    answer = sentence * (50_000 // len(sentence) + 1) + "The Lumen Watch S2 costs $299."
    assert len(answer.encode()) >= 50_000
    started = time.perf_counter()
    result = FactChecker(support_index).check(answer)
    assert time.perf_counter() - started < 30
    assert result.verdict == "hallucinated"
    assert result.claims[-1].verdict == "contradicted"
    assert result.claims[-1].claim.end == len(answer)


class _RecordingVerifier:
    """A ClaimVerifier returning fixed verdicts and recording what it was asked (the tier-2 seam)."""

    def __init__(self, verdict: str = "supported", *, fail: bool = False) -> None:
        self.verdict = verdict
        self.fail = fail
        self.calls: list[tuple[Claim, Sequence[Evidence]]] = []

    def verify(self, claim: Claim, evidence: Sequence[Evidence]) -> ClaimVerdict:
        self.calls.append((claim, evidence))
        if self.fail:
            raise JudgeTransportError("judge endpoint returned 500")
        return ClaimVerdict(claim, self.verdict, "llm", tuple(evidence[:1]), "the LLM says so")  # type: ignore[arg-type]


def test_verifier_settles_only_what_tier_1_cannot(support_index: KnowledgeIndex) -> None:
    verifier = _RecordingVerifier("supported")
    assert isinstance(verifier, ClaimVerifier)
    answer = "The Lumen Watch S2 costs $299. Our staff are friendly and knowledgeable."
    result = FactChecker(support_index, verifier=verifier).check(answer)
    assert [c.text for c, _ in verifier.calls] == ["Our staff are friendly and knowledgeable."]
    assert [c.tier for c in result.claims] == ["deterministic", "llm"]
    assert result.verdict == "hallucinated"


def test_verifier_always_verify_and_contradiction(support_index: KnowledgeIndex) -> None:
    verifier = _RecordingVerifier("contradicted")
    result = FactChecker(support_index, verifier=verifier, always_verify=True).check("The store is closed on Sundays.")
    assert len(verifier.calls) == 1
    assert result.claims[0].tier == "llm" and result.verdict == "hallucinated"


def test_verifier_failure_keeps_tier_1_verdict_and_warns(support_index: KnowledgeIndex) -> None:
    result = FactChecker(support_index, verifier=_RecordingVerifier(fail=True)).check(
        "Our staff are friendly and knowledgeable."
    )
    assert result.claims[0].tier == "deterministic" and result.claims[0].verdict == "unverifiable"
    assert any("returned 500" in w for w in result.warnings)


def test_always_verify_needs_a_verifier(support_index: KnowledgeIndex) -> None:
    with pytest.raises(ValueError, match="verifier"):
        FactChecker(support_index, always_verify=True)


def test_failure_kind_from_the_apps_own_context(support_index: KnowledgeIndex) -> None:
    checker = FactChecker(support_index)
    wrong = "The Lumen Watch S2 costs $299."
    right_passage = "- **Lumen Watch S2 smartwatch**: $249 (329,000원)."
    grounding = checker.check(wrong, context=[right_passage])
    assert grounding.failure_kind == "grounding_failure"
    miss = checker.check(wrong, context=["Gift wrapping is $5 per item."])
    assert miss.failure_kind == "retrieval_miss"
    gap = checker.check("Our Busan store opens at 10 AM.", context="Gift wrapping is $5 per item.")
    assert gap.failure_kind == "kb_gap"
    assert checker.check("The Lumen Watch S2 costs $249.", context=[right_passage]).failure_kind is None
