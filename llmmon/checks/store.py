"""Save fact-check results as AnswerCheck / ClaimCheck rows and read them back."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from llmmon.checks.verdicts import FactCheckResult
from llmmon.errors import StorageError
from llmmon.storage.models.checks import AnswerCheck, ClaimCheck

__all__ = ["StoredCheck", "evidence_json", "load_checks", "save_check"]


def evidence_json(result: FactCheckResult, index: int) -> str:
    """The evidence of claim ``index`` as the JSON stored in ``claim_check.evidence``."""
    return json.dumps(
        [
            {"passage_id": e.passage_id, "doc": e.doc, "start": e.start, "end": e.end, "text": e.text}
            for e in result.claims[index].evidence
        ],
        ensure_ascii=False,
    )


def save_check(
    engine: Engine,
    result: FactCheckResult,
    *,
    trace_id: str | None = None,
    kb_name: str | None = None,
    kb_version: str | None = None,
) -> int:
    """Store one answer's result (one AnswerCheck row, one ClaimCheck row per claim); returns its id."""
    try:
        with Session(engine) as session:
            answer = AnswerCheck(
                trace_id=trace_id,
                kb_name=kb_name,
                kb_version=kb_version,
                verdict=result.verdict,
                score=result.score,
                failure_kind=result.failure_kind,
            )
            session.add(answer)
            session.flush()
            assert answer.id is not None
            for i, verdict in enumerate(result.claims):
                session.add(
                    ClaimCheck(
                        answer_check_id=answer.id,
                        trace_id=trace_id,
                        text=verdict.claim.text,
                        start=verdict.claim.start,
                        end=verdict.claim.end,
                        verdict=verdict.verdict,
                        tier=verdict.tier,
                        evidence=evidence_json(result, i),
                        reason=verdict.reason,
                    )
                )
            session.commit()
            return answer.id
    except SQLAlchemyError as exc:
        raise StorageError(f"could not store the fact check: {exc}") from exc


@dataclass(frozen=True)
class StoredCheck:
    """An AnswerCheck row with its ClaimCheck rows in answer order."""

    answer: AnswerCheck
    claims: tuple[ClaimCheck, ...]


def load_checks(engine: Engine, *, trace_id: str) -> list[StoredCheck]:
    """Every stored check of a trace, oldest first."""
    try:
        with Session(engine) as session:
            answers = session.exec(
                select(AnswerCheck).where(AnswerCheck.trace_id == trace_id).order_by(col(AnswerCheck.id))
            ).all()
            found: list[StoredCheck] = []
            for answer in answers:
                claims = session.exec(
                    select(ClaimCheck)
                    .where(ClaimCheck.answer_check_id == answer.id)
                    .order_by(col(ClaimCheck.start), col(ClaimCheck.id))
                ).all()
                found.append(StoredCheck(answer, tuple(claims)))
            return found
    except SQLAlchemyError as exc:
        raise StorageError(f"could not read fact checks: {exc}") from exc
