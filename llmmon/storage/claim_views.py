"""Read views of one trace's checks and votes: claim verdicts with their evidence in context, feedback."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from llmmon.storage.models import AnswerCheck, ClaimCheck, KbDocument, KbPassage
from llmmon.storage.quality_stats import feedback_table
from llmmon.storage.repo import _connect

__all__ = ["ClaimCheckPublic", "EvidencePublic", "claim_checks", "parse_evidence", "trace_feedback"]


class EvidencePublic(BaseModel):
    """One evidence passage of a claim verdict, with its surrounding document text if stored."""

    passage_id: str
    doc: str
    start: int
    end: int
    text: str
    context_before: str = ""
    context_after: str = ""


class ClaimCheckPublic(BaseModel):
    """One claim of a checked answer: its verdict, why, and the evidence that decided it."""

    answer_check_id: int
    answer_verdict: str
    kb_name: str | None
    text: str
    start: int
    end: int
    verdict: str
    tier: str
    reason: str
    evidence: list[EvidencePublic]


def claim_checks(engine: Engine, *, trace_id: str, context_chars: int = 160) -> list[ClaimCheckPublic]:
    """Every checked claim of a trace with its evidence, and the document text around each passage."""
    answer = AnswerCheck.__table__  # type: ignore[attr-defined]
    claim = ClaimCheck.__table__  # type: ignore[attr-defined]
    query = (
        select(claim, answer.c.verdict.label("answer_verdict"), answer.c.kb_name)
        .join(answer, answer.c.id == claim.c.answer_check_id)
        .where(claim.c.trace_id == trace_id)
        .order_by(claim.c.answer_check_id, claim.c.start, claim.c.id)
    )
    with _connect(engine) as connection:
        rows = connection.execute(query).mappings().all()
        parsed = [(row, parse_evidence(row["evidence"])) for row in rows]
        passage_ids = {e["passage_id"] for _, items in parsed for e in items if e.get("passage_id")}
        documents = _passage_documents(connection, passage_ids)
    result: list[ClaimCheckPublic] = []
    for row, items in parsed:
        evidence: list[EvidencePublic] = []
        for item in items:
            value = EvidencePublic(
                passage_id=str(item.get("passage_id", "")),
                doc=str(item.get("doc", "")),
                start=int(item.get("start", 0)),
                end=int(item.get("end", 0)),
                text=str(item.get("text", "")),
            )
            text = documents.get(value.passage_id)
            if text is not None and text[value.start : value.end] == value.text:
                value.context_before = text[max(0, value.start - context_chars) : value.start]
                value.context_after = text[value.end : value.end + context_chars]
            evidence.append(value)
        result.append(
            ClaimCheckPublic(
                answer_check_id=row["answer_check_id"],
                answer_verdict=row["answer_verdict"],
                kb_name=row["kb_name"],
                text=row["text"],
                start=row["start"],
                end=row["end"],
                verdict=row["verdict"],
                tier=row["tier"],
                reason=row["reason"],
                evidence=evidence,
            )
        )
    return result


def parse_evidence(raw: str | None) -> list[dict[str, Any]]:
    """Evidence items of a stored claim (JSON text); anything unreadable is no evidence."""
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _passage_documents(connection: Any, passage_ids: set[str]) -> dict[str, str]:
    """Document text per passage id (only for passages whose offsets are into the document itself)."""
    if not passage_ids:
        return {}
    passage = KbPassage.__table__  # type: ignore[attr-defined]
    document = KbDocument.__table__  # type: ignore[attr-defined]
    query = (
        select(passage.c.passage_id, document.c.text)
        .join(document, document.c.id == passage.c.document_id)
        .where(passage.c.passage_id.in_(sorted(passage_ids)), passage.c.record_id.is_(None))
    )
    return {row.passage_id: row.text for row in connection.execute(query)}


def trace_feedback(engine: Engine, *, trace_id: str) -> list[dict[str, Any]]:
    """Every vote on a trace, oldest first: the history when stored, else the current votes."""
    if feedback_table() is None:
        return []
    tables = SQLModel.metadata.tables
    with _connect(engine) as connection:
        for name in ("feedback_event", "feedback"):
            table = tables.get(name)
            if table is None:
                continue
            query = select(table).where(table.c.trace_id == trace_id).order_by(table.c.created_at, table.c.id)
            rows = [dict(row) for row in connection.execute(query).mappings()]
            if rows:
                return rows
    return []
