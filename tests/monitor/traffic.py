"""Synthetic traffic for the monitor tests: root spans (+ answer checks and claims) with timestamps."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select

from llmmon.storage import rollups
from llmmon.storage.models import AnswerCheck, ClaimCheck, Feedback, Span

__all__ = ["Answer", "write_answers"]

_SPAN: Any = Span.__table__  # type: ignore[attr-defined]
_ANSWER: Any = AnswerCheck.__table__  # type: ignore[attr-defined]
_CLAIM: Any = ClaimCheck.__table__  # type: ignore[attr-defined]
_FEEDBACK: Any = Feedback.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Answer:
    """One answered question: when, by which prompt version, and what the checks found."""

    at: datetime
    prompt_version: str = "v1"
    latency_ms: float = 800.0
    status: str = "ok"
    hallucinated: bool | None = None  # None: not checked
    thumbs: str | None = None  # "up" | "down" | None
    cost_usd: float | None = 0.001
    user_id: str | None = None
    model: str = "gpt-4o-mini"
    prompt_name: str = "support-answer"
    question: str | None = None


def write_answers(engine: Engine, answers: list[Answer], *, seed: int = 0) -> None:
    """Insert one root span per answer, and its answer check / claim / vote when given."""
    rng = random.Random(seed)
    spans, checks, claims, votes = [], [], [], []
    with engine.begin() as connection:
        next_check = int(connection.execute(select(func.coalesce(func.max(_ANSWER.c.id), 0))).scalar_one()) + 1
    for answer in answers:
        trace_id = f"{rng.getrandbits(128):032x}"
        spans.append(
            {
                "span_id": trace_id[:16],
                "trace_id": trace_id,
                "parent_span_id": None,
                "name": "answer",
                "kind": "chain",
                "start_time": answer.at,
                "end_time": answer.at + timedelta(milliseconds=answer.latency_ms),
                "latency_ms": answer.latency_ms,
                "status": answer.status,
                "io_truncated": False,
                "user_id": answer.user_id,
                "input": json.dumps({"question": answer.question}) if answer.question is not None else None,
                "prompt_name": answer.prompt_name,
                "prompt_version": answer.prompt_version,
                "model": answer.model,
                "cost_usd": answer.cost_usd,
                "tokens_estimated": False,
                "is_eval": False,
            }
        )
        if answer.hallucinated is not None:
            check_id = next_check
            next_check += 1
            checks.append(
                {
                    "id": check_id,
                    "trace_id": trace_id,
                    "verdict": "hallucinated" if answer.hallucinated else "supported",
                    "score": 1.0 if answer.hallucinated else 0.0,
                    "created_at": answer.at + timedelta(seconds=2),
                }
            )
            claims.append(
                {
                    "answer_check_id": check_id,
                    "trace_id": trace_id,
                    "text": "The Pro plan costs $49 per month.",
                    "start": 0,
                    "end": 33,
                    "verdict": "contradicted" if answer.hallucinated else "supported",
                    "tier": "deterministic",
                    "evidence": "[]",
                    "reason": "",
                }
            )
        if answer.thumbs is not None:
            at = answer.at + timedelta(seconds=5)
            votes.append(
                {
                    "trace_id": trace_id,
                    "user_key": answer.user_id or "",
                    "user_id": answer.user_id,
                    "value": answer.thumbs,
                    "score": -1.0 if answer.thumbs == "down" else 1.0,
                    "source": "python",
                    "created_at": at,
                    "updated_at": at,
                }
            )
    with engine.begin() as connection:
        for table, rows in ((_SPAN, spans), (_ANSWER, checks), (_CLAIM, claims), (_FEEDBACK, votes)):
            if rows:
                connection.execute(insert(table), rows)
        rollups.add_inserted_spans(connection, spans)  # as the span write path does
