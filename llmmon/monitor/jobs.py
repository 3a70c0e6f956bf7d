"""The evaluation worker's SQL: discover new root traces, claim jobs under leases, fence writes.

Every timestamp here is the database's clock (:func:`db_now_sql`), never the worker's: a
worker whose clock is off by an hour still sees the same leases as every other worker.
PostgreSQL workers share the queue with ``SELECT ... FOR UPDATE SKIP LOCKED``; on SQLite,
whose writers are serialised, the claim is one atomic ``UPDATE ... RETURNING``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, func, literal, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from llmmon.storage.models.monitor_jobs import EvalJob
from llmmon.storage.models.server import EvalPriority
from llmmon.storage.models.tracing import Span

__all__ = [
    "JOB",
    "aware",
    "claim_jobs",
    "db_now",
    "db_now_sql",
    "discover_traces",
    "first_seen",
    "judge_spend_today",
    "load_spans",
    "sweep_dead_jobs",
    "sync_priorities",
]

JOB: Table = EvalJob.__table__  # type: ignore[attr-defined]
SPAN: Table = Span.__table__  # type: ignore[attr-defined]
PRIORITY: Table = EvalPriority.__table__  # type: ignore[attr-defined]


def aware(value: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes; make every datetime timezone-aware UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def db_now_sql(connection: Connection, plus_seconds: float = 0.0) -> ColumnElement[Any]:
    """The database's current time (plus ``plus_seconds``) as a SQL expression of the column's format."""
    if connection.dialect.name == "sqlite":
        # Microseconds like SQLAlchemy writes them, so that stored values compare as strings.
        return func.strftime("%Y-%m-%d %H:%M:%f000", "now", f"{plus_seconds:+.3f} seconds")
    now: ColumnElement[Any] = func.now()
    if plus_seconds:
        return now + func.make_interval(0, 0, 0, 0, 0, 0, literal(float(plus_seconds)))
    return now


def db_now(connection: Connection) -> datetime:
    """The database's current time as an aware UTC datetime."""
    value = connection.execute(select(db_now_sql(connection))).scalar_one()
    if isinstance(value, str):
        value = datetime.fromisoformat(value[:26])
    return aware(value)


def _insert(connection: Connection) -> Any:
    return sqlite.insert if connection.dialect.name == "sqlite" else postgresql.insert


def discover_traces(connection: Connection, *, since: datetime | None) -> int:
    """Add a pending job for every root trace (app traces only, never the judge's own ``is_eval``
    spans) that has none yet, started at or after ``since`` (all when None); returns how many.

    An anti-join plus ``ON CONFLICT DO NOTHING``: running it twice, or on two workers at once,
    adds each trace once. Thumbs-down traces (``eval_priority``) start with their priority.
    """
    now = db_now_sql(connection)
    job = JOB.alias("j")
    conditions: list[ColumnElement[bool]] = [
        SPAN.c.parent_span_id.is_(None),
        SPAN.c.is_eval.is_(False),
        job.c.trace_id.is_(None),
    ]
    if since is not None:
        conditions.append(SPAN.c.start_time >= since)
    source = (
        select(
            SPAN.c.trace_id,
            func.min(SPAN.c.start_time),
            literal("pending"),
            literal(False),
            literal("pending"),
            func.coalesce(func.max(PRIORITY.c.priority), 0),
            literal(0),
            literal(0),
            now,
            now,
        )
        .select_from(SPAN)
        .outerjoin(job, job.c.trace_id == SPAN.c.trace_id)
        .outerjoin(PRIORITY, PRIORITY.c.trace_id == SPAN.c.trace_id)
        .where(*conditions)
        .group_by(SPAN.c.trace_id)
    )
    columns = [
        "trace_id",
        "trace_start",
        "status",
        "tier1_done",
        "judge_state",
        "priority",
        "attempts",
        "judge_attempts",
        "created_at",
        "updated_at",
    ]
    statement = (
        _insert(connection)(JOB)
        .from_select(columns, source)
        .on_conflict_do_nothing(index_elements=["trace_id"])
        .returning(JOB.c.trace_id)
    )
    return len(connection.execute(statement).all())


def sync_priorities(connection: Connection) -> int:
    """Apply thumbs-down votes (unclaimed ``eval_priority`` rows) to existing jobs; returns how many.

    A waiting job moves up the queue; a finished job the judge skipped is reopened for the judge.
    A job another worker is running keeps its vote unclaimed until it finishes.
    """
    rows = connection.execute(
        select(PRIORITY.c.trace_id, PRIORITY.c.priority, JOB.c.status)
        .join(JOB, JOB.c.trace_id == PRIORITY.c.trace_id)
        .where(PRIORITY.c.claimed_at.is_(None), JOB.c.status != "running")
    ).all()
    if not rows:
        return 0
    now = db_now_sql(connection)
    connection.execute(
        update(JOB)
        .where(JOB.c.trace_id == bindparam("tid"), JOB.c.status == "pending")
        .values(priority=bindparam("prio"), updated_at=now),
        [{"tid": r.trace_id, "prio": r.priority} for r in rows],
    )
    connection.execute(
        update(JOB)
        .where(
            JOB.c.trace_id == bindparam("tid"),
            JOB.c.status == "done",
            JOB.c.judge_state == "skipped",
            JOB.c.sampled_reason.is_(None),
        )
        .values(
            status="pending",
            judge_state="pending",
            sampled_reason="thumbs_down",
            priority=bindparam("prio"),
            next_attempt_at=None,
            updated_at=now,
        ),
        [{"tid": r.trace_id, "prio": r.priority} for r in rows],
    )
    connection.execute(
        update(PRIORITY)
        .where(PRIORITY.c.trace_id.in_([r.trace_id for r in rows]), PRIORITY.c.claimed_at.is_(None))
        .values(claimed_at=now)
    )
    return len(rows)


def sweep_dead_jobs(connection: Connection, *, max_attempts: int) -> int:
    """Fail jobs whose lease expired ``max_attempts`` times in a row (a trace that kills workers)."""
    now = db_now_sql(connection)
    return int(
        connection.execute(
            update(JOB)
            .where(JOB.c.status == "running", JOB.c.lease_expires_at < now, JOB.c.attempts >= max_attempts)
            .values(
                status="failed",
                lease_owner=None,
                lease_expires_at=None,
                last_error=f"gave up: the lease expired {max_attempts} times in a row",
                updated_at=now,
            )
        ).rowcount
        or 0
    )


def claim_jobs(connection: Connection, *, owner: str, limit: int, lease_s: float) -> list[Any]:
    """Lease up to ``limit`` jobs to ``owner``: due pending jobs and jobs whose lease expired,
    highest priority and oldest first. Returns the claimed job rows."""
    now = db_now_sql(connection)
    claimable = or_(
        and_(JOB.c.status == "pending", or_(JOB.c.next_attempt_at.is_(None), JOB.c.next_attempt_at <= now)),
        and_(JOB.c.status == "running", JOB.c.lease_expires_at < now),
    )
    candidates = (
        select(JOB.c.trace_id)
        .where(claimable)
        .order_by(JOB.c.priority.desc(), JOB.c.trace_start, JOB.c.trace_id)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    statement = (
        update(JOB)
        .where(JOB.c.trace_id.in_(candidates.scalar_subquery()))
        .values(
            status="running",
            lease_owner=owner,
            lease_expires_at=db_now_sql(connection, lease_s),
            attempts=JOB.c.attempts + 1,
            updated_at=now,
        )
        .returning(*JOB.c)
    )
    rows = list(connection.execute(statement).all())
    rows.sort(key=lambda r: (-r.priority, aware(r.trace_start), r.trace_id))
    return rows


def load_spans(connection: Connection, trace_ids: Sequence[str]) -> dict[str, list[Any]]:
    """Every span of the given traces, by trace id (one query)."""
    columns = [
        SPAN.c.span_id,
        SPAN.c.trace_id,
        SPAN.c.parent_span_id,
        SPAN.c.kind,
        SPAN.c.start_time,
        SPAN.c.status,
        SPAN.c.input,
        SPAN.c.output,
        SPAN.c.attributes,
        SPAN.c.prompt_name,
        SPAN.c.prompt_version,
        SPAN.c.model,
        SPAN.c.is_eval,
    ]
    found: dict[str, list[Any]] = {}
    for row in connection.execute(select(*columns).where(SPAN.c.trace_id.in_(list(trace_ids)))):
        found.setdefault(row.trace_id, []).append(row)
    return found


def first_seen(
    connection: Connection, *, versions: Sequence[tuple[str, str]], models: Sequence[str]
) -> tuple[dict[tuple[str, str], datetime], dict[str, datetime]]:
    """When each prompt version and each model first appeared in an app (non-eval) span."""
    by_version: dict[tuple[str, str], datetime] = {}
    by_model: dict[str, datetime] = {}
    if versions:
        rows = connection.execute(
            select(SPAN.c.prompt_name, SPAN.c.prompt_version, func.min(SPAN.c.start_time))
            .where(tuple_(SPAN.c.prompt_name, SPAN.c.prompt_version).in_(list(versions)), SPAN.c.is_eval.is_(False))
            .group_by(SPAN.c.prompt_name, SPAN.c.prompt_version)
        )
        by_version = {(name, version): aware(at) for name, version, at in rows}
    if models:
        model_rows = connection.execute(
            select(SPAN.c.model, func.min(SPAN.c.start_time))
            .where(SPAN.c.model.in_(list(models)), SPAN.c.is_eval.is_(False))
            .group_by(SPAN.c.model)
        )
        by_model = {model: aware(at) for model, at in model_rows}
    return by_version, by_model


def judge_spend_today(connection: Connection) -> float:
    """USD the judge spent since midnight UTC by the database's clock (``is_eval`` spans' cost)."""
    midnight = db_now(connection).replace(hour=0, minute=0, second=0, microsecond=0)
    total = connection.execute(
        select(func.coalesce(func.sum(SPAN.c.cost_usd), 0.0)).where(
            SPAN.c.is_eval.is_(True), SPAN.c.start_time >= midnight
        )
    ).scalar_one()
    return float(total)
