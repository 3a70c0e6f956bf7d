"""Stored fact checks: an AnswerCheck row per answer, a ClaimCheck row per claim (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from sqlalchemy import Engine

from llmmon.checks.factcheck import FactChecker
from llmmon.checks.store import load_checks, save_check
from llmmon.knowledge.index import KnowledgeIndex


def test_save_and_load_check_round_trip(engine: Engine, support_index: KnowledgeIndex) -> None:
    result = FactChecker(support_index).check(
        "The Lumen Watch S2 costs $299. The store is closed on Sundays.",
        context=["- **Lumen Watch S2 smartwatch**: $249 (329,000원)."],
    )
    answer_id = save_check(engine, result, trace_id="t" * 32, kb_name="support", kb_version=support_index.version_hash)
    save_check(engine, FactChecker(support_index).check("Gift wrapping is $5 per item."), trace_id="other")
    (stored,) = load_checks(engine, trace_id="t" * 32)
    assert stored.answer.id == answer_id
    assert (stored.answer.verdict, stored.answer.failure_kind) == ("hallucinated", "grounding_failure")
    assert stored.answer.score == result.score
    assert stored.answer.kb_version == support_index.version_hash
    assert stored.answer.created_at.tzinfo is not None
    assert [c.verdict for c in stored.claims] == ["contradicted", "supported"]
    assert [(c.start, c.end) for c in stored.claims] == [(v.claim.start, v.claim.end) for v in result.claims]
    first = json.loads(stored.claims[0].evidence)[0]
    assert first["passage_id"] == result.claims[0].evidence[0].passage_id
    assert stored.claims[0].tier == "deterministic" and "$299" in stored.claims[0].reason
    assert load_checks(engine, trace_id="missing") == []
