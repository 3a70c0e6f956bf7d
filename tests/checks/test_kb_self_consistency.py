"""The demo knowledge base checked against itself: a sentence copied from the KB is never a hallucination.

Every claim of every document in ``examples/support_bot/kb/`` (split with the checker's own
splitter) is checked as an answer, without a question and with questions a customer might ask,
and must never be ``contradicted`` nor the answer ``hallucinated``. Correct paraphrases of the
same facts must not be either, and wrong ones must be caught with the passage about the same
day and subject as evidence.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmmon.checks.claims import split_claims
from llmmon.checks.factcheck import FactChecker
from llmmon.checks.verdicts import FactCheckResult
from llmmon.knowledge.index import KnowledgeIndex
from tests.checks.conftest import SUPPORT_KB

DOCUMENTS = sorted(SUPPORT_KB.glob("*.md"))

# Questions a customer might ask about any part of a document (each claim is checked with each),
# plus one made from the heading of the claim's own section (see ``_questions``).
QUESTIONS: dict[str, list[str]] = {
    "store-hours": ["When do you close?", "What are your opening hours?", "Are you open on Sunday?"],
    "store-hours.ko": ["언제 문을 닫나요?", "영업시간이 어떻게 되나요?", "일요일에도 여나요?"],
    "products": ["How much does the Lumen X1 cost?", "What does a screen repair cost?", "How much is it?"],
    "products.ko": ["루멘 X1 가격이 얼마인가요?", "화면 수리 비용은 얼마인가요?", "얼마예요?"],
    "returns": ["Can I return an opened product?", "How long do refunds take?", "What is the return policy?"],
    "returns.ko": ["개봉한 제품도 반품할 수 있나요?", "환불은 얼마나 걸리나요?", "반품 정책이 어떻게 되나요?"],
    "shipping": ["How long does delivery take?", "Do you ship internationally?", "When will my order ship?"],
    "shipping.ko": ["배송은 얼마나 걸리나요?", "해외 배송이 되나요?", "주문은 언제 출고되나요?"],
    "warranty": ["How long is the warranty?", "What does LumenCare+ cost?", "Does the warranty cover water damage?"],
    "warranty.ko": ["보증 기간은 얼마인가요?", "루멘케어+ 가격은 얼마인가요?", "침수도 보증되나요?"],
}


# Questions about one section: asked only of the claims in that section ("When does the store close
# on Wednesday?" is not a plausible question for the customer-service hours).
SECTION_QUESTIONS: dict[str, list[str]] = {
    "Flagship store opening hours": ["When does the store close on Wednesday?", "Is the store open on Sunday?"],
    "플래그십 매장 영업시간": ["수요일에는 몇 시에 닫나요?", "일요일에도 영업하나요?"],
    "Customer service desk": ["What are the customer service hours on Saturday?", "When can I call you?"],
    "고객센터": ["고객센터는 토요일에 몇 시까지 운영하나요?", "상담 시간이 어떻게 되나요?"],
}


def _section(text: str, offset: int) -> str:
    """The heading of the section ``offset`` is in."""
    headings = [line for line in text[:offset].splitlines() if line.startswith("#")]
    return headings[-1].lstrip("#").strip() if headings else ""


def _questions(document: Path, text: str, offset: int) -> list[str | None]:
    section = _section(text, offset)
    korean = document.name.endswith(".ko.md")
    from_heading = f"{section}에 대해 알려주세요." if korean else f"What about {section.lower()}?"
    return [None, from_heading, *QUESTIONS[document.name.removesuffix(".md")], *SECTION_QUESTIONS.get(section, [])]


def _problems(result: FactCheckResult) -> list[str]:
    """What makes a result wrong for a true statement: the answer hallucinated, a claim contradicted."""
    found = [
        f"{c.claim.text!r} contradicted: {c.reason} (evidence {c.evidence[0].text if c.evidence else ''!r})"
        for c in result.claims
        if c.verdict == "contradicted"
    ]
    if result.verdict == "hallucinated" and not found:
        found.append(f"hallucinated: {[c.reason for c in result.claims if c.verdict != 'supported']}")
    return found


@pytest.fixture(scope="module")
def checker(support_index: KnowledgeIndex) -> FactChecker:
    return FactChecker(support_index)


def test_every_document_has_questions_and_many_claims() -> None:
    assert {doc.name.removesuffix(".md") for doc in DOCUMENTS} == set(QUESTIONS)
    claims = [c for doc in DOCUMENTS for c in split_claims(doc.read_text(encoding="utf-8"))]
    assert len(claims) >= 150


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_kb_claim_checked_against_the_kb_is_never_contradicted(checker: FactChecker, document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    claims = split_claims(text)
    assert claims
    failures: list[str] = []
    for claim in claims:
        for question in _questions(document, text, claim.start):
            for problem in _problems(checker.check(claim.text, question=question)):
                failures.append(f"q={question!r}: {problem}")
    assert failures == [], f"{len(failures)} false contradictions in {document.name}:\n" + "\n".join(failures)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_a_whole_kb_document_as_one_answer_is_not_hallucinated(checker: FactChecker, document: Path) -> None:
    result = checker.check(document.read_text(encoding="utf-8"))
    assert _problems(result) == []


# Correct paraphrases (answer, question): never contradicted, never hallucinated.
PARAPHRASES = [
    ("Wednesday: 10:00 AM – 9:00 PM.", "When does the store close on Wednesday?"),
    ("On Wednesdays we close at 9 PM.", "When does the store close on Wednesday?"),
    ("The store opens at 10 AM and closes at 8 PM on Monday.", "What are your hours on Monday?"),
    ("On Tuesday and Thursday the store is open 10 AM–8 PM.", "When are you open?"),
    ("We're open until 9 PM on Fridays.", "How late are you open on Friday?"),
    ("On Saturdays the store is open from 11:00 to 18:00.", "Saturday hours?"),
    ("Customer service is available on weekdays from 9 AM to 6 PM.", "When can I call customer service?"),
    ("You can reach phone support on Saturday between 10 AM and 2 PM.", "Can I call on Saturday?"),
    ("Phone support runs 9 AM to 6 PM Monday to Friday, and 10 AM to 2 PM on Saturday.", None),
    ("Customer service is closed on Sundays.", "Can I call on Sunday?"),
    ("The store is closed on Sundays.", "Are you open on Sunday?"),
    ("On public holidays other than Seollal, Chuseok and New Year's Day the store keeps Saturday hours.", None),
    ("수요일에는 오후 9시에 문을 닫습니다.", "수요일에 몇 시에 닫나요?"),
    ("수요일: 오전 10시 – 오후 9시.", "수요일에 몇 시에 닫나요?"),
    ("매장은 평일 오전 10시에 문을 엽니다.", "몇 시에 여나요?"),
    ("토요일에는 오전 11시부터 오후 6시까지 영업합니다.", "토요일 영업시간은?"),
    ("고객센터는 평일 오전 9시~오후 6시, 토요일 오전 10시~오후 2시에 운영합니다.", "고객센터 운영 시간은?"),
    ("고객센터는 평일 9~18시에 운영합니다.", "고객센터 운영 시간은?"),
    ("일요일은 매장이 쉽니다.", "일요일에 영업하나요?"),
    ("The Lumen X1 with 128 GB costs $699.", "How much is the Lumen X1?"),
    ("루멘 X1 128GB 모델은 949,000원입니다.", "루멘 X1 가격은?"),
    ("Standard delivery takes 3 to 5 business days.", "How long does shipping take?"),
    ("Express orders placed before 2 PM arrive the next business day.", "How fast is express?"),
    ("Returns are accepted within 30 days of delivery for a full refund.", "What is your return policy?"),
    ("Opened products can be returned within 14 days with a 10% restocking fee.", "Can I return an opened item?"),
    ("The standard warranty lasts one year from the date of purchase.", "How long is the warranty?"),
    ("LumenCare+ costs $79 per device and extends coverage to three years.", "What does LumenCare+ cost?"),
    ("Orders placed after 2 PM, on Saturday or on Sunday ship the next business day.", "When will my order ship?"),
    ("Parking is free for two hours with any purchase.", "Is there parking?"),
    ("The flagship store is next to exit 4 of Gangnam station.", "Where is the store?"),
]


@pytest.mark.parametrize(("answer", "question"), PARAPHRASES)
def test_correct_paraphrases_are_supported(checker: FactChecker, answer: str, question: str | None) -> None:
    result = checker.check(answer, question=question)
    assert _problems(result) == []
    assert result.verdict == "supported", [(c.claim.text, c.verdict, c.reason) for c in result.claims]


# Wrong answers: caught, with the clause about the claim's own day and subject as the evidence.
WRONG = [
    # (answer, question, text the evidence must contain, text it must not contain)
    ("일요일에는 오전 10시에 문을 엽니다.", None, "휴무", "오후 2시"),
    ("일요일에는 오전 10시에 문을 엽니다.", "일요일에 매장은 몇 시에 여나요?", "휴무", "고객센터"),
    ("The store opens at 10 AM on Sunday.", None, "closed on Sunday", "Customer service"),
    ("Customer service is open on Saturday from 11 AM to 6 PM.", None, "10:00 AM to 2:00 PM", "store"),
    ("The store is open on Saturday from 10 AM to 2 PM.", None, "11 AM", "10:00 AM to 2:00 PM"),
    ("고객센터는 토요일 오전 11시부터 운영합니다.", None, "오전 10시부터", "문을 열고"),
    ("매장은 토요일 오전 10시에 문을 엽니다.", None, "오전 11시", "고객"),
    ("The store opens at 8 PM on Monday.", None, "10 AM", "9:00 AM"),
    ("The store closes at 2 PM on Saturday.", None, "6 PM", "10:00 AM"),
    ("Phone support runs 9 AM to 6 PM Monday to Friday, and 11 AM to 2 PM on Saturday.", None, "10:00 AM", "store"),
]


@pytest.mark.parametrize(("answer", "question", "evidence_has", "evidence_lacks"), WRONG)
def test_wrong_day_or_time_is_caught_with_the_clause_about_that_day_and_subject(
    checker: FactChecker, answer: str, question: str | None, evidence_has: str, evidence_lacks: str
) -> None:
    result = checker.check(answer, question=question)
    assert result.verdict == "hallucinated"
    contradicted = [c for c in result.claims if c.verdict == "contradicted"]
    assert contradicted, [(c.claim.text, c.verdict, c.reason) for c in result.claims]
    evidence = contradicted[0].evidence[0].text
    assert evidence_has in evidence and evidence_lacks not in evidence, (evidence, contradicted[0].reason)


def test_sunday_opening_claim_cites_the_sunday_closed_line(checker: FactChecker) -> None:
    """The eval-suite report: the reason named the customer center's "오후 2시", not "일요일 휴무"."""
    result = checker.check("일요일에는 오전 10시에 문을 엽니다.")
    assert result.verdict == "hallucinated"
    (claim,) = result.claims
    assert claim.verdict == "contradicted"
    (quote,) = claim.evidence
    assert quote.text in ("일요일은 휴무입니다.", "| 일요일 | 휴무                |")
    assert quote.doc.endswith("store-hours.ko.md")
    source = (SUPPORT_KB / "store-hours.ko.md").read_text(encoding="utf-8")
    assert source.count(quote.text) >= 1
    assert "opposite" in claim.reason
