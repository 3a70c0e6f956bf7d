"""Claim splitting: sentences and clauses with spans; pleasantries and questions are not claims."""

from __future__ import annotations

from llmmon.checks.claims import split_claims
from llmmon.checks.polarity import is_negated
from llmmon.checks.weekdays import extract_weekdays


def test_split_claims_skips_greetings_offers_and_questions() -> None:
    answer = "Hi! Thanks for asking. The store opens at 10 AM. Is there anything else I can help with?"
    claims = split_claims(answer)
    assert [c.text for c in claims] == ["The store opens at 10 AM."]
    assert answer[claims[0].start : claims[0].end] == claims[0].text


def test_split_claims_korean_sentences_and_clauses() -> None:
    answer = "안녕하세요! 매장은 월요일에 오전 10시부터 영업하며, 수요일에는 오후 9시까지 영업합니다. 감사합니다."
    claims = split_claims(answer)
    assert [c.text for c in claims] == [
        "매장은 월요일에 오전 10시부터 영업하며",
        "수요일에는 오후 9시까지 영업합니다.",
    ]
    for claim in claims:
        assert answer[claim.start : claim.end] == claim.text


def test_split_claims_clauses_and_bullets() -> None:
    answer = "We are open Monday to Friday; on Saturday we close at 6 PM.\n- **Lumen X1**: $699\n- Watch S2: $249"
    texts = [c.text for c in split_claims(answer)]
    assert texts == [
        "We are open Monday to Friday",
        "on Saturday we close at 6 PM.",
        "**Lumen X1**: $699",
        "Watch S2: $249",
    ]


def test_split_claims_drops_leading_yes_no_but_keeps_the_claim() -> None:
    (claim,) = split_claims("No, the store is closed on Sundays.")
    assert claim.text == "the store is closed on Sundays."


def test_split_claims_nothing_to_check() -> None:
    assert split_claims("") == []
    assert split_claims("Sure! Happy to help. Let me know if you have other questions.") == []
    assert split_claims("안녕하세요! 무엇을 도와드릴까요?") == []


def test_split_claims_abbreviations_and_decimals_do_not_split() -> None:
    (claim,) = split_claims("Korea's GDP was about 1.7 trillion dollars (approx. in U.S. dollars) in 2024.")
    assert claim.start == 0


def test_polarity_flips_and_double_negation() -> None:
    assert is_negated("The store is closed on Sundays.")
    assert not is_negated("The store is open on Sundays.")
    assert is_negated("We do not offer gift wrapping.")
    assert not is_negated("The store is not closed on Sunday.")
    assert (
        is_negated("일요일은 휴무입니다.")
        and is_negated("해외 배송은 하지 않습니다.")
        and is_negated("반품이 불가합니다.")
    )
    assert not is_negated("일요일에도 영업합니다.")


def test_weekdays_ranges_and_groups() -> None:
    assert extract_weekdays("Monday to Friday") == frozenset(range(5))
    assert extract_weekdays("월요일부터 금요일까지") == frozenset(range(5))
    assert extract_weekdays("open on weekends") == frozenset({5, 6})
    assert extract_weekdays("the sun is out") == frozenset()


def test_split_claims_joins_hard_wrapped_lines_and_skips_headings() -> None:
    answer = (
        "## Public holidays\n"
        "The store is closed on New Year's Day, on the three days of Seollal and on the\n"
        "three days of Chuseok. Other holidays keep Saturday hours.\n"
        "Monday 10 AM\n"
        "Tuesday 10 AM"
    )
    claims = split_claims(answer)
    assert [c.text for c in claims] == [
        "The store is closed on New Year's Day, on the three days of Seollal and on the three days of Chuseok.",
        "Other holidays keep Saturday hours.",
        "Monday 10 AM",
        "Tuesday 10 AM",
    ]
    for claim in claims:  # offsets hold: only the soft line break became a space
        assert answer[claim.start : claim.end].replace("\n", " ") == claim.text
    korean = (
        "영업일 기준 10일 이내에 도착하지 않은 택배는 분실로 간주하며 대체 상품을 보내드리는 택배는\n분실로 처리됩니다."
    )
    assert len(split_claims(korean)) == 1
