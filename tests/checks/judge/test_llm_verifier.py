"""LlmClaimVerifier over recorded judge replies: verdicts, cited passages, verified quotes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from llmmon.checks.judge import JudgeClient
from llmmon.checks.llm_verifier import LlmClaimVerifier, locate_quote
from llmmon.checks.verdicts import Claim, Evidence
from tests.checks.judge.recorded import ScriptedEndpoint, error, ok

CLAIM = Claim("The store opens at 9 AM on Sundays.", 0, 35)
EVIDENCE = (
    Evidence(
        "hours.md#0", "store-hours.md", 0, 61, "Weekdays: open 09:00-20:00.\nSaturday: open 10:00-18:00."
    ),
    Evidence(
        "hours.md#1", "store-hours.md", 62, 120, "Sunday: open 11:00 to 17:00. Closed on public holidays."
    ),
)


@pytest.fixture
def endpoint() -> ScriptedEndpoint:
    return ScriptedEndpoint()


@pytest.fixture
def verifier(endpoint: ScriptedEndpoint) -> Iterator[LlmClaimVerifier]:
    with endpoint.client() as http_client:
        judge = JudgeClient(
            "http://judge.test/v1", "gpt-4o-mini", "k", http_client=http_client, max_retries=0
        )
        yield LlmClaimVerifier(judge)


def test_verifier_contradiction_cites_the_passage_and_exact_quote(
    endpoint: ScriptedEndpoint, verifier: LlmClaimVerifier
) -> None:
    endpoint.steps.append(
        ok(
            {
                "reason": "Sunday opening is 11:00, not 9 AM.",
                "verdict": "contradicted",
                "passage_id": "P2",
                "quote": "Sunday: open 11:00 to 17:00",
            }
        )
    )
    verdict = verifier.verify(CLAIM, EVIDENCE)

    assert (verdict.verdict, verdict.tier, verdict.claim) == ("contradicted", "llm", CLAIM)
    (cited,) = verdict.evidence
    assert cited.passage_id == "hours.md#1" and cited.doc == "store-hours.md"
    assert cited.quote == "Sunday: open 11:00 to 17:00" and cited.quote in cited.text
    assert (cited.start, cited.end) == (62, 120)
    assert verdict.reason == "Sunday opening is 11:00, not 9 AM."
    sent = endpoint.bodies[0]["messages"][-1]["content"]
    assert CLAIM.text in sent and "[P1]" in sent and "[P2]" in sent and "Sunday: open 11:00" in sent


def test_verifier_supported_quote_is_taken_from_the_passage_not_the_model(
    endpoint: ScriptedEndpoint, verifier: LlmClaimVerifier
) -> None:
    # The model re-cased and re-wrapped the span; the stored quote is the passage's own text.
    endpoint.steps.append(
        ok(
            {
                "reason": "Stated.",
                "verdict": "supported",
                "passage_id": "P1",
                "quote": '"weekdays: OPEN 09:00-20:00. saturday:"',
            }
        )
    )
    verdict = verifier.verify(Claim("We open at 9 on weekdays.", 0, 25), EVIDENCE)
    assert verdict.verdict == "supported"
    assert verdict.evidence[0].quote == "Weekdays: open 09:00-20:00.\nSaturday:"


def test_verifier_asks_again_when_the_quote_is_made_up(
    endpoint: ScriptedEndpoint, verifier: LlmClaimVerifier
) -> None:
    endpoint.steps += [
        ok({"reason": "x", "verdict": "contradicted", "passage_id": "P2", "quote": "Sunday: open 9 AM"}),
        ok({"reason": "Opens at 11.", "verdict": "contradicted", "passage_id": "P2", "quote": "open 11:00"}),
    ]
    verdict = verifier.verify(CLAIM, EVIDENCE)
    assert verdict.verdict == "contradicted" and verdict.evidence[0].quote == "open 11:00"
    repair = endpoint.bodies[1]["messages"][-1]["content"]
    assert "does not occur in passage P2" in repair


def test_verifier_made_up_quote_twice_leaves_the_claim_unverifiable(
    endpoint: ScriptedEndpoint, verifier: LlmClaimVerifier
) -> None:
    made_up = ok({"reason": "x", "verdict": "supported", "passage_id": "P1", "quote": "Sundays from 9 AM"})
    endpoint.steps += [made_up, made_up]
    verdict = verifier.verify(CLAIM, EVIDENCE)
    assert (verdict.verdict, verdict.tier) == ("unverifiable", "llm")
    assert (
        verdict.reason.startswith("LLM verification failed:")
        and "does not occur in passage P1" in verdict.reason
    )
    assert all(item.quote is None for item in verdict.evidence)


def test_verifier_rejects_an_unknown_passage_id(
    endpoint: ScriptedEndpoint, verifier: LlmClaimVerifier
) -> None:
    endpoint.steps += [
        ok({"reason": "x", "verdict": "contradicted", "passage_id": "hours.md#1", "quote": "open 11:00"}),
        ok({"reason": "Opens at 11.", "verdict": "contradicted", "passage_id": "P2", "quote": "open 11:00"}),
    ]
    verdict = verifier.verify(CLAIM, EVIDENCE)
    assert verdict.evidence[0].passage_id == "hours.md#1"
    assert "passage_id must be one of P1, P2" in endpoint.bodies[1]["messages"][-1]["content"]


def test_verifier_unverifiable_keeps_the_passages_it_saw(
    endpoint: ScriptedEndpoint, verifier: LlmClaimVerifier
) -> None:
    endpoint.steps.append(
        ok(
            {
                "reason": "Parking is not mentioned.",
                "verdict": "unverifiable",
                "passage_id": None,
                "quote": "",
            }
        )
    )
    verdict = verifier(Claim("Parking is free.", 0, 16), EVIDENCE)
    assert verdict.verdict == "unverifiable" and verdict.evidence == EVIDENCE
    assert verdict.reason == "Parking is not mentioned."


def test_verifier_without_evidence_makes_no_call(
    endpoint: ScriptedEndpoint, verifier: LlmClaimVerifier
) -> None:
    verdict = verifier.verify(CLAIM, [])
    assert verdict.verdict == "unverifiable" and "No evidence" in verdict.reason
    assert endpoint.requests == []


def test_verifier_judge_down_is_unverifiable_never_a_verdict(
    endpoint: ScriptedEndpoint, verifier: LlmClaimVerifier
) -> None:
    endpoint.steps.append(httpx.ConnectError("connection refused"))
    verdict = verifier.verify(CLAIM, EVIDENCE)
    assert verdict.verdict == "unverifiable" and "cannot connect" in verdict.reason

    endpoint.steps.append(error(500))
    assert verifier.verify(CLAIM, EVIDENCE).verdict == "unverifiable"


def test_verifier_shows_at_most_max_passages(endpoint: ScriptedEndpoint) -> None:
    many = [Evidence(f"p{n}", "d.md", 0, 10, f"passage number {n}") for n in range(8)]
    endpoint.steps.append(ok({"reason": "n/a", "verdict": "unverifiable", "passage_id": None, "quote": ""}))
    with endpoint.client() as http_client:
        judge = JudgeClient("http://judge.test/v1", "m", None, http_client=http_client)
        verdict = LlmClaimVerifier(judge, max_passages=3, max_passage_chars=9).verify(CLAIM, many)
    sent = endpoint.bodies[0]["messages"][-1]["content"]
    assert "[P3]" in sent and "[P4]" not in sent and "passage n\n" in sent and "passage number" not in sent
    assert len(verdict.evidence) == 3


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        ("open 11:00", "open 11:00"),
        ("“Sunday: open 11:00”", "Sunday: open 11:00"),
        ("SUNDAY:   OPEN\n11:00", "Sunday: open 11:00"),
        ("open 9:00", None),
        ("", None),
        ("...", None),
    ],
)
def test_locate_quote(quote: str, expected: str | None) -> None:
    text = EVIDENCE[1].text
    span = locate_quote(quote, text)
    assert (text[span[0] : span[1]] if span else None) == expected
