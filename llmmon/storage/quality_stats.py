"""Quality counts behind the dashboard: hallucinated answers and thumbs-down votes per group.

* hallucination rate = checked answers with at least one contradicted claim / checked answers
  (``answer_check`` and ``claim_check``), attributed to the time, model and prompt version of
  the checked trace.
* thumbs-down rate = traces whose latest vote is negative / traces with a vote.

Exact counts (no roll-up): each query starts from the checked answers or the votes -- a small
share of the traces -- and looks their spans up by trace id, so its cost grows with the number
of checks and votes in the database, not with the number of spans. The feedback table belongs
to the server area and is treated as empty when its models are not installed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel
from sqlalchemy import Engine, Table, and_, case, exists, func, literal, select
from sqlalchemy.sql import ColumnElement
from sqlmodel import SQLModel

from llmmon.errors import ConfigError
from llmmon.storage.models import AnswerCheck, ClaimCheck, Span
from llmmon.storage.repo import _connect

__all__ = ["QualityCounts", "QualityKey", "apply_quality", "feedback_table", "quality_counts"]

QualityKey = Literal["day", "hour", "model", "prompt_version"]


class QualityCounts(BaseModel):
    """Checked / hallucinated answers and voted / thumbs-down traces of one group."""

    checked: int = 0
    hallucinated: int = 0
    voted: int = 0
    thumbs_down: int = 0


class _HasQuality(Protocol):
    checked: int
    hallucinated: int
    voted: int
    thumbs_down: int
    hallucination_rate: float | None
    thumbs_down_rate: float | None


def feedback_table() -> Table | None:
    """The feedback table when the server area's models are installed, else None."""
    try:
        import llmmon.storage.models.server  # noqa: F401  (registers the table in the metadata)
    except ImportError:
        return None
    return SQLModel.metadata.tables.get("feedback")


def _latest_votes(table: Table) -> Any:
    """One row per voted trace with ``is_down`` 1 when any current vote on it is negative.

    ``feedback`` holds the current vote per (trace, user); history lives in ``feedback_event``.
    """
    c = table.c
    return (
        select(c.trace_id.label("trace_id"), func.max(case((c.score < 0, 1), else_=0)).label("is_down"))
        .group_by(c.trace_id)
        .subquery("votes")
    )


def _hallucinated_answers() -> Any:
    """One row per checked answer that has a trace: trace id and 1/0 for a contradicted claim."""
    answer = AnswerCheck.__table__  # type: ignore[attr-defined]
    claim = ClaimCheck.__table__  # type: ignore[attr-defined]
    contradicted = exists().where(claim.c.answer_check_id == answer.c.id, claim.c.verdict == "contradicted")
    return (
        select(answer.c.trace_id.label("trace_id"), case((contradicted, 1), else_=0).label("bad"))
        .where(answer.c.trace_id.is_not(None))
        .subquery("checked")
    )


def _bucket(engine: Engine, column: Any, key: Literal["day", "hour"]) -> ColumnElement[Any]:
    """UTC day ('YYYY-MM-DD') or hour ('YYYY-MM-DD HH') of a timestamp as text, on both databases."""
    if engine.dialect.name == "sqlite":
        # SQLite keeps UTC timestamps as ISO text ('YYYY-MM-DD HH:MM:SS...'): a prefix is the bucket.
        return func.substr(column, 1, 10 if key == "day" else 13)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD" if key == "day" else "YYYY-MM-DD HH24")


def _window(column: Any, since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions


def _trace_keys(
    engine: Engine, key: QualityKey, trace_ids: Any, *, since: datetime | None, until: datetime | None
) -> Any:
    """(trace_id, key) of the traces in ``trace_ids`` (a subquery column) that fall in the window."""
    span = Span.__table__  # type: ignore[attr-defined]
    if key in ("day", "hour"):
        # The root's conditions sit inside CASE so that the planner looks the few checked or
        # voted traces up by trace id instead of scanning every root span of the window.
        member = span.alias("qroot")
        is_root = and_(member.c.parent_span_id.is_(None), member.c.is_eval.is_(False),
                       *_window(member.c.start_time, since, until))  # fmt: skip
        group = func.max(case((is_root, _bucket(engine, member.c.start_time, key))))
        return (
            select(member.c.trace_id.label("trace_id"), group.label("key"))
            .where(member.c.trace_id.in_(trace_ids))
            .group_by(member.c.trace_id)
            .having(group.is_not(None))
            .subquery("traces")
        )
    member = span.alias("qmember")
    column = member.c.model if key == "model" else member.c.prompt_name + literal(" ") + member.c.prompt_version
    present = member.c.model if key == "model" else member.c.prompt_version
    return (
        select(member.c.trace_id.label("trace_id"), func.max(column).label("key"))
        .where(
            member.c.trace_id.in_(trace_ids),
            present.is_not(None),
            member.c.is_eval.is_(False),
            *_window(member.c.start_time, since, until),
        )
        .group_by(member.c.trace_id)
        .subquery("traces")
    )


def quality_counts(
    engine: Engine,
    *,
    key: QualityKey,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str | None, QualityCounts]:
    """Hallucination and thumbs-down counts per group (time bucket, model, prompt version) of the trace."""
    if key not in ("day", "hour", "model", "prompt_version"):
        raise ConfigError(f"unknown quality grouping {key!r}")
    result: dict[str | None, QualityCounts] = {}
    checked = _hallucinated_answers()
    traces = _trace_keys(engine, key, select(checked.c.trace_id), since=since, until=until)
    check_query = (
        select(traces.c.key, func.count().label("checked"), func.sum(checked.c.bad).label("bad"))
        .join(checked, checked.c.trace_id == traces.c.trace_id)
        .group_by(traces.c.key)
    )
    table = feedback_table()
    with _connect(engine) as connection:
        for row in connection.execute(check_query).mappings():
            counts = result.setdefault(row["key"], QualityCounts())
            counts.checked = int(row["checked"])
            counts.hallucinated = int(row["bad"] or 0)
        if table is not None:
            votes = _latest_votes(table)
            voted = _trace_keys(engine, key, select(votes.c.trace_id), since=since, until=until)
            vote_query = (
                select(voted.c.key, func.count().label("voted"), func.sum(votes.c.is_down).label("down"))
                .join(votes, votes.c.trace_id == voted.c.trace_id)
                .group_by(voted.c.key)
            )
            for row in connection.execute(vote_query).mappings():
                counts = result.setdefault(row["key"], QualityCounts())
                counts.voted = int(row["voted"])
                counts.thumbs_down = int(row["down"] or 0)
    return result


def apply_quality(row: _HasQuality, counts: QualityCounts | None) -> None:
    """Copy a group's quality counts onto its stats row and derive the two rates."""
    if counts is None:
        return
    row.checked, row.hallucinated = counts.checked, counts.hallucinated
    row.voted, row.thumbs_down = counts.voted, counts.thumbs_down
    row.hallucination_rate = counts.hallucinated / counts.checked if counts.checked else None
    row.thumbs_down_rate = counts.thumbs_down / counts.voted if counts.voted else None
