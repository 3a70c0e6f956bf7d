"""The evaluation worker: tier-1 fact checks on every new trace, the LLM judge on a tail sample.

One pass (:meth:`Worker.run_batch`):

1. discover new root traces into ``eval_job`` (idempotent anti-join), apply thumbs-down votes;
2. claim a batch under a lease (database clock; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL);
3. read the batch's spans with one query, fact-check each answer (tier 1), and store the
   ``AnswerCheck`` rows together with the job updates in ONE transaction, fenced on the lease:
   a worker whose lease was taken over writes nothing;
4. judge the sampled traces (see :mod:`llmmon.monitor.sampling`) within the day's budget and
   store their ``JudgeScore`` rows, fenced the same way. A judge that fails leaves its traces
   ``pending`` with exponential backoff (tier 1 keeps going); after ``judge_max_attempts``
   failures they become ``unscored``.

A worker killed anywhere loses only its lease: the jobs come back when it expires, and what
was committed is never done twice (``tier1_done``/``judge_state`` fences plus unique keys).

Usage::

    worker = Worker(engine, WorkerConfig(kb_name="support"), scorers=[FaithfulnessScorer(judge)])
    worker.run_until_idle()                       # `llmmon worker --once`
    handle = start_worker(engine, kb_name="support")  # in-process, a daemon thread
    handle.stop()
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from llmmon.checks.factcheck import FactChecker, KbScope
from llmmon.checks.scorers import Scorer
from llmmon.checks.store import evidence_json
from llmmon.checks.verdicts import FactCheckResult, Score
from llmmon.config import Settings
from llmmon.errors import LlmmonError
from llmmon.monitor import jobs
from llmmon.monitor.inputs import TraceInputs, inputs_from_spans
from llmmon.monitor.sampling import SamplingPolicy
from llmmon.storage.models.checks import AnswerCheck, ClaimCheck
from llmmon.storage.models.monitor_jobs import JudgeScore

__all__ = ["BatchReport", "Worker", "WorkerConfig", "WorkerHandle", "start_worker"]

logger = logging.getLogger("llmmon.worker")

_ANSWER: Table = AnswerCheck.__table__  # type: ignore[attr-defined]
_CLAIM: Table = ClaimCheck.__table__  # type: ignore[attr-defined]
_SCORE: Table = JudgeScore.__table__  # type: ignore[attr-defined]
_JOB = jobs.JOB


@dataclass(frozen=True)
class WorkerConfig:
    """How the worker runs. Durations are seconds; every lease and timestamp uses the DB clock."""

    kb_name: str
    kb_scope: KbScope = "closed"
    batch_size: int = 100
    judge_share: float = 0.1
    judge_daily_budget_usd: float | None = None
    new_version_hours: float = 24.0
    lease_s: float = 60.0
    poll_interval_s: float = 1.0
    judge_max_attempts: int = 5
    judge_backoff_s: float = 30.0
    judge_backoff_max_s: float = 3600.0
    max_attempts: int = 5
    discovery_lookback_s: float = 3600.0
    full_scan_every_s: float = 600.0
    # Pretend the local clock is off by this much (tests and diagnostics): nothing the worker
    # decides may depend on it, since leases and timestamps come from the database.
    clock_offset_s: float = 0.0
    owner: str | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.lease_s <= 0 or self.max_attempts < 1 or self.judge_max_attempts < 1:
            raise ValueError("batch_size, lease_s, max_attempts and judge_max_attempts must be positive")
        if self.judge_daily_budget_usd is not None and self.judge_daily_budget_usd < 0:
            raise ValueError("judge_daily_budget_usd must be >= 0")
        SamplingPolicy(self.judge_share, self.new_version_hours)  # validates both


@dataclass
class BatchReport:
    """What one pass did (counts of traces)."""

    discovered: int = 0
    claimed: int = 0
    checked: int = 0  # tier-1 results stored
    no_answer: int = 0
    judged: int = 0
    judge_failed: int = 0  # left pending for a retry, or given up (unscored)
    over_budget: int = 0
    not_sampled: int = 0
    lost: int = 0  # the lease was taken over before the write: written by someone else
    failed: int = 0

    def add(self, other: BatchReport) -> None:
        """Add ``other``'s counts to this report."""
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


@dataclass
class _Item:
    """One claimed job while the worker holds it."""

    job: Any
    trace: TraceInputs | None = None
    result: FactCheckResult | None = None
    sampled: str | None = None
    error: str | None = None
    scores: list[Score] = field(default_factory=list)


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Scores new traces in batches; safe to run in several processes against one database."""

    def __init__(
        self,
        engine: Engine,
        config: WorkerConfig,
        *,
        scorers: Sequence[Scorer] = (),
        on_batch_claimed: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.config = config
        self.scorers = list(scorers)
        self.owner = config.owner or _default_owner()
        self.policy = SamplingPolicy(config.judge_share, config.new_version_hours)
        self._on_batch_claimed = on_batch_claimed
        self._checker: FactChecker | None = None
        self._checker_version: str | None = None
        self._version_seen: dict[tuple[str, str], datetime] = {}
        self._model_seen: dict[str, datetime] = {}
        self._last_full_scan = float("-inf")
        self.totals = BatchReport()

    # -- clock --------------------------------------------------------------------------

    def local_now(self) -> datetime:
        """The worker's own clock (with the configured offset); used for logs only, never for leases."""
        return datetime.now(UTC) + timedelta(seconds=self.config.clock_offset_s)

    # -- discovery ----------------------------------------------------------------------

    def discover(self, *, full: bool = False) -> int:
        """Add jobs for new root traces; a full anti-join every ``full_scan_every_s`` (or when asked),
        else only traces started after the newest job minus ``discovery_lookback_s``."""
        monotonic = time.monotonic()
        full = full or monotonic - self._last_full_scan >= self.config.full_scan_every_s
        with self.engine.begin() as connection:
            since = None
            if not full:
                newest = connection.execute(select(func.max(_JOB.c.trace_start))).scalar_one_or_none()
                if newest is not None:
                    since = jobs.aware(newest) - timedelta(seconds=self.config.discovery_lookback_s)
            added = jobs.discover_traces(connection, since=since)
            jobs.sync_priorities(connection)
            jobs.sweep_dead_jobs(connection, max_attempts=self.config.max_attempts)
        if full:
            self._last_full_scan = monotonic
        return added

    # -- one batch ----------------------------------------------------------------------

    def run_batch(self, *, discover: bool = True) -> BatchReport:
        """Discover, claim one batch, fact-check it, judge its sample; returns what happened."""
        report = BatchReport()
        if discover:
            report.discovered = self.discover()
        with self.engine.begin() as connection:
            claimed = jobs.claim_jobs(
                connection, owner=self.owner, limit=self.config.batch_size, lease_s=self.config.lease_s
            )
        report.claimed = len(claimed)
        if not claimed:
            return report
        if self._on_batch_claimed is not None:
            self._on_batch_claimed([job.trace_id for job in claimed])
        items = self._prepare(claimed)
        self._store_tier1([item for item in items if not item.job.tier1_done], report)
        judged = [item for item in items if item.sampled is not None and item.error is None and self._wants_judge(item)]
        if judged:
            self._judge(judged, report)
        self.totals.add(report)
        return report

    def run_until_idle(self, *, max_batches: int | None = None) -> BatchReport:
        """Process every job that is due now, then return (``llmmon worker --once``)."""
        total = BatchReport()
        total.discovered = self.discover(full=True)
        batches = 0
        while max_batches is None or batches < max_batches:
            report = self.run_batch(discover=False)
            total.add(report)
            batches += 1
            if report.claimed == 0:
                break
        return total

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set; database errors are logged and retried with backoff."""
        failures = 0
        while not stop.is_set():
            try:
                report = self.run_batch()
                failures = 0
            except (SQLAlchemyError, LlmmonError) as exc:
                failures += 1
                delay = min(self.config.poll_interval_s * 2**failures, 30.0)
                logger.warning("evaluation worker %s: %s (retrying in %.1fs)", self.owner, exc, delay)
                stop.wait(delay)
                continue
            if report.claimed == 0:
                stop.wait(self.config.poll_interval_s)

    # -- tier 1 -------------------------------------------------------------------------

    def _fact_checker(self) -> FactChecker:
        from llmmon.knowledge.index import load_index

        index = load_index(self.engine, self.config.kb_name)
        if self._checker is None or self._checker_version != index.version_hash:
            self._checker = FactChecker(index, kb_scope=self.config.kb_scope)
            self._checker_version = index.version_hash
        return self._checker

    def _prepare(self, claimed: Sequence[Any]) -> list[_Item]:
        """Read the batch's spans, run tier 1, and decide which traces the judge sees."""
        ids = [job.trace_id for job in claimed]
        with self.engine.connect() as connection:
            spans = jobs.load_spans(connection, ids)
            thumbs_down = set(
                connection.execute(select(jobs.PRIORITY.c.trace_id).where(jobs.PRIORITY.c.trace_id.in_(ids))).scalars()
            )
            items = [_Item(job) for job in claimed]
            for item in items:
                rows = spans.get(item.job.trace_id)
                if rows:
                    item.trace = inputs_from_spans(rows)
                    item.trace = replace(item.trace, start_time=jobs.aware(item.trace.start_time))
            self._update_first_seen(connection, [item.trace for item in items if item.trace is not None])
        checker = self._fact_checker()
        for item in items:
            trace = item.trace
            if trace is None:
                item.error = "the trace has no spans (purged?)"
                continue
            if trace.answer is not None:
                try:
                    item.result = checker.check(trace.answer, question=trace.question, context=trace.context)
                except Exception as exc:  # one bad trace must not stop the batch
                    logger.exception("tier-1 fact check failed on trace %s", trace.trace_id)
                    item.error = f"tier-1 check failed: {type(exc).__name__}: {exc}"
                    continue
            if item.job.tier1_done:
                item.sampled = item.job.sampled_reason
            else:
                item.sampled = self.policy.reason(
                    trace,
                    item.result,
                    thumbs_down=trace.trace_id in thumbs_down,
                    version_first_seen=self._version_seen,
                    model_first_seen=self._model_seen,
                )
        return items

    def _update_first_seen(self, connection: Connection, traces: Iterable[TraceInputs]) -> None:
        traces = list(traces)
        versions = sorted({v for t in traces for v in t.prompt_versions} - set(self._version_seen))
        models = sorted({m for t in traces for m in t.models} - set(self._model_seen))
        if versions or models:
            by_version, by_model = jobs.first_seen(connection, versions=versions, models=models)
            self._version_seen.update(by_version)
            self._model_seen.update(by_model)

    def _wants_judge(self, item: _Item) -> bool:
        return bool(self.scorers) and item.trace is not None and item.trace.answer is not None

    @staticmethod
    def _fence(connection: Connection, ids: Sequence[str], owner: str, *conditions: Any) -> set[str]:
        """Lock the jobs this worker still holds (lease not taken over); returns their ids."""
        if not ids:
            return set()
        statement = (
            update(_JOB)
            .where(_JOB.c.trace_id.in_(list(ids)), _JOB.c.lease_owner == owner, _JOB.c.status == "running", *conditions)
            .values(updated_at=jobs.db_now_sql(connection))
            .returning(_JOB.c.trace_id)
        )
        return set(connection.execute(statement).scalars())

    def _store_tier1(self, items: list[_Item], report: BatchReport) -> None:
        """AnswerCheck/ClaimCheck rows and the jobs' new states in one transaction."""
        if not items:
            return
        with self.engine.begin() as connection:
            held = self._fence(connection, [i.job.trace_id for i in items], self.owner, _JOB.c.tier1_done.is_(False))
            now = jobs.db_now(connection)
            mine = [item for item in items if item.job.trace_id in held]
            report.lost += len(items) - len(mine)
            checked = [item for item in mine if item.result is not None]
            check_ids = self._insert_checks(connection, checked, now)
            updates: list[dict[str, Any]] = []
            for item in mine:
                judge = item.sampled is not None and item.error is None and self._wants_judge(item)
                if item.error is not None:
                    give_up = item.job.attempts >= self.config.max_attempts
                    report.failed += give_up
                    status, judge_state = ("failed" if give_up else "pending"), "pending"
                    if item.trace is None:
                        status, judge_state = "done", "skipped"
                elif judge:
                    status, judge_state = "running", "pending"  # the judge step below finishes it
                else:
                    status, judge_state = "done", "skipped"
                    report.not_sampled += item.sampled is None
                report.checked += item.result is not None
                report.no_answer += item.trace is not None and item.trace.answer is None and item.error is None
                updates.append(
                    {
                        "b_tid": item.job.trace_id,
                        "b_status": status,
                        "b_tier1": item.error is None,
                        "b_check": check_ids.get(item.job.trace_id),
                        "b_judge": judge_state,
                        "b_sampled": item.sampled,
                        "b_error": item.error
                        or (None if item.trace is None or item.trace.answer is not None else "no text answer"),
                        "b_owner": self.owner if status == "running" else None,
                        "b_expires": item.job.lease_expires_at if status == "running" else None,
                        "b_next": now + timedelta(seconds=self.config.judge_backoff_s) if status == "pending" else None,
                        "b_attempts": item.job.attempts if status in ("running", "pending") else 0,
                        "b_now": now,
                    }
                )
            if updates:
                connection.execute(
                    update(_JOB)
                    .where(_JOB.c.trace_id == bindparam("b_tid"))
                    .values(
                        status=bindparam("b_status"),
                        tier1_done=bindparam("b_tier1"),
                        answer_check_id=bindparam("b_check"),
                        judge_state=bindparam("b_judge"),
                        sampled_reason=bindparam("b_sampled"),
                        last_error=bindparam("b_error"),
                        lease_owner=bindparam("b_owner"),
                        lease_expires_at=bindparam("b_expires"),
                        next_attempt_at=bindparam("b_next"),
                        attempts=bindparam("b_attempts"),
                        updated_at=bindparam("b_now"),
                    ),
                    updates,
                )
        for item in items:
            if item.job.trace_id not in held:
                item.error = "lease lost"

    def _insert_checks(self, connection: Connection, items: list[_Item], now: datetime) -> dict[str, int]:
        if not items:
            return {}
        rows = []
        for item in items:
            assert item.result is not None
            rows.append(
                {
                    "trace_id": item.job.trace_id,
                    "kb_name": self.config.kb_name,
                    "kb_version": self._checker_version,
                    "verdict": item.result.verdict,
                    "score": item.result.score,
                    "failure_kind": item.result.failure_kind,
                    "created_at": now,
                }
            )
        returned = connection.execute(
            insert(_ANSWER).returning(_ANSWER.c.id, _ANSWER.c.trace_id, sort_by_parameter_order=True), rows
        ).all()
        ids = {trace_id: answer_id for answer_id, trace_id in returned}
        claims = [
            {
                "answer_check_id": ids[item.job.trace_id],
                "trace_id": item.job.trace_id,
                "text": verdict.claim.text,
                "start": verdict.claim.start,
                "end": verdict.claim.end,
                "verdict": verdict.verdict,
                "tier": verdict.tier,
                "evidence": evidence_json(item.result, i),
                "reason": verdict.reason,
            }
            for item in items
            if item.result is not None
            for i, verdict in enumerate(item.result.claims)
        ]
        if claims:
            connection.execute(insert(_CLAIM), claims)
        return ids

    # -- the judge ----------------------------------------------------------------------

    def _judge(self, items: list[_Item], report: BatchReport) -> None:
        items = [item for item in items if item.error is None]
        budget = self.config.judge_daily_budget_usd
        if budget is not None:
            with self.engine.connect() as connection:
                spent = jobs.judge_spend_today(connection)
            if spent >= budget:
                logger.warning(
                    "judge budget spent today (%.4f of %.4f USD): %d traces not judged", spent, budget, len(items)
                )
                self._finish_judge(items, report, state="budget")
                return
        judge_down: str | None = None
        for item in items:
            if judge_down is not None:
                item.error = judge_down  # do not hammer a judge that just failed
                continue
            for scorer in self.scorers:
                score = self._score(scorer, item)
                item.scores.append(score)
                if score.status == "unscored":
                    judge_down = f"judge failed: {score.error}"
                    item.error = judge_down
                    break
        self._finish_judge(items, report, state=None)

    def _score(self, scorer: Scorer, item: _Item) -> Score:
        assert item.trace is not None and item.trace.answer is not None
        context: list[str] | None = item.trace.context
        if context is None and item.result is not None:
            context = list(dict.fromkeys(e.text for c in item.result.claims for e in c.evidence)) or None
        return scorer.score(answer=item.trace.answer, question=item.trace.question, context=context)

    def _finish_judge(self, items: list[_Item], report: BatchReport, *, state: str | None) -> None:
        """Store scores and the jobs' judge states (fenced on the lease), one transaction."""
        if not items:
            return
        with self.engine.begin() as connection:
            held = self._fence(connection, [i.job.trace_id for i in items], self.owner, _JOB.c.judge_state == "pending")
            now = jobs.db_now(connection)
            updates: list[dict[str, Any]] = []
            scores: list[dict[str, Any]] = []
            for item in items:
                if item.job.trace_id not in held:
                    report.lost += 1
                    continue
                judge_state, status, next_at, last_error = state or "done", "done", None, None
                attempts = item.job.judge_attempts
                if state == "budget":
                    report.over_budget += 1
                elif item.error is not None:
                    attempts += 1
                    report.judge_failed += 1
                    last_error = item.error
                    if attempts < self.config.judge_max_attempts:
                        judge_state, status = "pending", "pending"
                        delay = min(self.config.judge_backoff_s * 2 ** (attempts - 1), self.config.judge_backoff_max_s)
                        next_at = now + timedelta(seconds=delay)
                    else:
                        judge_state = "unscored"
                else:
                    report.judged += 1
                if judge_state in ("done", "unscored"):
                    scores.extend(self._score_row(item.job.trace_id, score, now) for score in item.scores)
                updates.append(
                    {
                        "b_tid": item.job.trace_id,
                        "b_status": status,
                        "b_judge": judge_state,
                        "b_attempts": attempts,
                        "b_next": next_at,
                        "b_error": last_error,
                        "b_now": now,
                    }
                )
            if scores:
                connection.execute(insert(_SCORE), scores)
            if updates:
                connection.execute(
                    update(_JOB)
                    .where(_JOB.c.trace_id == bindparam("b_tid"))
                    .values(
                        status=bindparam("b_status"),
                        judge_state=bindparam("b_judge"),
                        judge_attempts=bindparam("b_attempts"),
                        next_attempt_at=bindparam("b_next"),
                        last_error=bindparam("b_error"),
                        lease_owner=None,
                        lease_expires_at=None,
                        attempts=0,
                        updated_at=bindparam("b_now"),
                    ),
                    updates,
                )

    def _score_row(self, trace_id: str, score: Score, now: datetime) -> dict[str, Any]:
        return {
            "trace_id": trace_id,
            "name": score.name,
            "value": score.value,
            "passed": score.passed,
            "status": score.status,
            "reason": score.reason or (score.error or ""),
            "judge_model": score.details.get("model"),
            "prompt_version": score.details.get("prompt_version"),
            "details": json.dumps(score.details, ensure_ascii=False, default=str),
            "created_at": now,
        }


# --------------------------------------------------------------------------- in-process worker


class WorkerHandle:
    """A worker running in a daemon thread of this process; :meth:`stop` ends it."""

    def __init__(self, worker: Worker, *, owns_engine: bool) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._owns_engine = owns_engine
        self._thread = threading.Thread(target=worker.run, args=(self._stop,), name="llmmon-worker", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the worker to stop after its current batch and wait for it (up to ``timeout``)."""
        self._stop.set()
        self._thread.join(timeout)
        if self._owns_engine and not self._thread.is_alive():
            self.worker.engine.dispose()


def start_worker(
    engine_or_settings: Engine | Settings,
    *,
    kb_name: str,
    scorers: Sequence[Scorer] = (),
    **options: Any,
) -> WorkerHandle:
    """Run the evaluation worker in a daemon thread of this process (single-process apps).

    ``options`` are :class:`WorkerConfig` fields (``batch_size``, ``judge_share``, ...). Given
    ``Settings``, the worker opens (and on ``stop()`` disposes) its own engine on a migrated database.
    """
    if isinstance(engine_or_settings, Settings):
        from llmmon.storage.engine import make_engine
        from llmmon.storage.migrate import upgrade_database

        engine = make_engine(engine_or_settings.database_url)
        upgrade_database(engine)
        owns = True
    else:
        engine, owns = engine_or_settings, False
    worker = Worker(engine, WorkerConfig(kb_name=kb_name, **options), scorers=scorers)
    return WorkerHandle(worker, owns_engine=owns)
