"""Feedback writes and reads: current votes, vote history, and the eval-priority marker.

``write_votes`` stores a batch of votes in the caller's transaction: every vote is appended
to ``feedback_event`` (history), upserted into ``feedback`` (one current vote per
(trace_id, user)), and a thumbs-down puts its trace into ``eval_priority`` so the evaluation
worker checks it first. Votes need no stored trace: they are joined by ``trace_id`` whenever
the trace is written, before or after the vote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, Table, select
from sqlalchemy.dialects import postgresql, sqlite

from llmmon.errors import StorageError
from llmmon.storage.models import EvalPriority, Feedback, FeedbackEvent

__all__ = [
    "FeedbackPublic",
    "FeedbackVote",
    "feedback_for_trace",
    "feedback_history",
    "priority_traces",
    "record_votes",
    "score_of",
    "write_votes",
]

_FEEDBACK: Table = Feedback.__table__  # type: ignore[attr-defined]
_EVENTS: Table = FeedbackEvent.__table__  # type: ignore[attr-defined]
_PRIORITY: Table = EvalPriority.__table__  # type: ignore[attr-defined]


def score_of(value: str | None, score: float | None) -> float:
    """The numeric score of a vote: an explicit score wins; up = 1, down = -1."""
    if score is not None:
        return float(score)
    if value == "up":
        return 1.0
    if value == "down":
        return -1.0
    raise StorageError("a vote needs a value ('up'/'down') or a score")


@dataclass(frozen=True, slots=True)
class FeedbackVote:
    """One vote as received."""

    trace_id: str
    value: str | None
    score: float
    user_id: str | None = None
    comment: str | None = None
    reason: str | None = None
    source: str = "api"
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def is_negative(self) -> bool:
        """Thumbs-down, or a negative score."""
        return self.value == "down" or self.score < 0


class FeedbackPublic(BaseModel):
    """A stored vote (current or historical)."""

    trace_id: str
    user_id: str | None
    value: str | None
    score: float
    comment: str | None
    reason: str | None
    source: str
    created_at: datetime


def _insert(connection: Connection) -> Any:
    dialect = connection.dialect.name
    if dialect == "sqlite":
        return sqlite.insert
    if dialect == "postgresql":
        return postgresql.insert
    raise StorageError(f"unsupported database dialect for feedback: {dialect}")


def write_votes(connection: Connection, votes: Sequence[FeedbackVote]) -> None:
    """Store ``votes`` (in order: a later vote of the same user on the same trace wins)."""
    if not votes:
        return
    insert = _insert(connection)
    rows = [
        {
            "trace_id": vote.trace_id,
            "user_key": vote.user_id or "",
            "user_id": vote.user_id,
            "value": vote.value,
            "score": vote.score,
            "comment": vote.comment,
            "reason": vote.reason,
            "source": vote.source,
            "created_at": vote.at,
        }
        for vote in votes
    ]
    connection.execute(insert(_EVENTS), rows)
    upsert = insert(_FEEDBACK)
    upsert = upsert.on_conflict_do_update(
        index_elements=["trace_id", "user_key"],
        set_={
            name: upsert.excluded[name]
            for name in ("user_id", "value", "score", "comment", "reason", "source", "updated_at")
        },
    )
    # executemany applies the rows in order, so duplicates within one batch resolve to the last vote.
    connection.execute(upsert, [{**row, "updated_at": row["created_at"]} for row in rows])
    negative = {vote.trace_id: vote.at for vote in votes if vote.is_negative}
    if negative:
        connection.execute(
            insert(_PRIORITY).on_conflict_do_nothing(index_elements=["trace_id"]),
            [
                {"trace_id": trace_id, "reason": "thumbs_down", "priority": 100, "created_at": at}
                for trace_id, at in negative.items()
            ],
        )


def record_votes(engine: Engine, votes: Sequence[FeedbackVote]) -> None:
    """``write_votes`` in its own transaction."""
    with engine.begin() as connection:
        write_votes(connection, votes)


def _public(row: Any) -> FeedbackPublic:
    created = row.created_at if hasattr(row, "created_at") else row.updated_at
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return FeedbackPublic(
        trace_id=row.trace_id,
        user_id=row.user_id,
        value=row.value,
        score=row.score,
        comment=row.comment,
        reason=row.reason,
        source=row.source,
        created_at=created,
    )


def feedback_for_trace(engine: Engine, trace_id: str) -> list[FeedbackPublic]:
    """The current votes on a trace (one per user), newest first."""
    statement = (
        select(
            _FEEDBACK.c.trace_id,
            _FEEDBACK.c.user_id,
            _FEEDBACK.c.value,
            _FEEDBACK.c.score,
            _FEEDBACK.c.comment,
            _FEEDBACK.c.reason,
            _FEEDBACK.c.source,
            _FEEDBACK.c.updated_at.label("created_at"),
        )
        .where(_FEEDBACK.c.trace_id == trace_id)
        .order_by(_FEEDBACK.c.updated_at.desc(), _FEEDBACK.c.id.desc())
    )
    with engine.connect() as connection:
        return [_public(row) for row in connection.execute(statement)]


def feedback_history(engine: Engine, trace_id: str) -> list[FeedbackPublic]:
    """Every vote ever received on a trace, oldest first."""
    statement = select(_EVENTS).where(_EVENTS.c.trace_id == trace_id).order_by(_EVENTS.c.id)
    with engine.connect() as connection:
        return [_public(row) for row in connection.execute(statement)]


def priority_traces(engine: Engine, *, limit: int = 100, include_claimed: bool = False) -> list[str]:
    """Trace ids the evaluation worker should check first, highest priority and oldest first."""
    statement = select(_PRIORITY.c.trace_id).order_by(_PRIORITY.c.priority.desc(), _PRIORITY.c.created_at)
    if not include_claimed:
        statement = statement.where(_PRIORITY.c.claimed_at.is_(None))
    with engine.connect() as connection:
        return list(connection.execute(statement.limit(limit)).scalars())
