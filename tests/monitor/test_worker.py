"""The evaluation worker in-process: tier 1 on every trace once, tail sampling, judge faults, leases."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select, update

from llmmon.monitor import Worker, WorkerConfig, start_worker
from llmmon.monitor import jobs as job_sql
from llmmon.monitor.sampling import SamplingPolicy, in_share
from llmmon.storage.models import EvalJob, EvalPriority, JudgeScore
from tests.monitor.worker_support import (
    WRONG,
    Switchable,
    add_trace,
    add_traces,
    all_once,
    check_counts,
    jobs_by_id,
    make_scorers,
    score_counts,
    seed_kb,
)

JOB = EvalJob.__table__  # type: ignore[attr-defined]


@pytest.fixture
def kb_engine(engine: Engine) -> Engine:
    seed_kb(engine)
    return engine


@pytest.fixture
def judge_up() -> Iterator[tuple[list[object], Switchable]]:
    endpoint = Switchable(up=True)
    scorers, http, _ = make_scorers(endpoint)
    yield scorers, endpoint
    http.close()


def _db_now(engine: Engine) -> datetime:
    with engine.connect() as connection:
        return job_sql.db_now(connection)


def test_worker_checks_every_trace_once_and_a_rerun_does_nothing(kb_engine: Engine) -> None:
    ids = add_traces(kb_engine, 30, wrong_every=5)
    worker = Worker(kb_engine, WorkerConfig(kb_name="support", batch_size=7, judge_share=0.0))
    report = worker.run_until_idle()
    assert report.discovered == 30 and report.checked == 30 and report.claimed == 30
    assert all_once(check_counts(kb_engine), ids)
    jobs = jobs_by_id(kb_engine)
    assert {j.status for j in jobs.values()} == {"done"}
    assert all(j.tier1_done and j.answer_check_id is not None and j.lease_owner is None for j in jobs.values())
    # Wrong answers are flagged by tier 1 and therefore judged-sampled (no judge configured: skipped).
    flagged = {t for t, j in jobs.items() if j.sampled_reason == "tier1_flagged"}
    assert flagged == set(ids[::5])
    again = Worker(kb_engine, WorkerConfig(kb_name="support", judge_share=0.0)).run_until_idle()
    assert again.discovered == 0 and again.claimed == 0
    assert all_once(check_counts(kb_engine), ids)


def test_worker_ignores_the_judges_own_eval_spans(kb_engine: Engine) -> None:
    add_trace(kb_engine, "e" * 32, is_eval=True, cost_usd=0.01)
    add_trace(kb_engine, "a" * 32)
    report = Worker(kb_engine, WorkerConfig(kb_name="support")).run_until_idle()
    assert report.discovered == 1
    assert set(jobs_by_id(kb_engine)) == {"a" * 32}


def test_tail_sampling_picks_errors_thumbs_down_flags_new_versions_and_a_share(
    kb_engine: Engine, judge_up: tuple[list[object], Switchable]
) -> None:
    scorers, endpoint = judge_up
    now = datetime.now(UTC)
    # v1 and the model have been around for days; v2 appeared ten minutes ago.
    add_trace(kb_engine, "0" * 32, start=now - timedelta(days=3))
    plain = [f"p{i:031d}" for i in range(40)]
    for trace_id in plain:
        add_trace(kb_engine, trace_id, start=now - timedelta(minutes=2))
    add_trace(kb_engine, "e" + "1" * 31, status="error", start=now - timedelta(minutes=2))
    add_trace(kb_engine, "d" + "2" * 31, start=now - timedelta(minutes=2))
    add_trace(kb_engine, "w" + "3" * 31, answer=WRONG, start=now - timedelta(minutes=2))
    add_trace(kb_engine, "n" + "4" * 31, prompt=("support-answer", "v2"), start=now - timedelta(minutes=10))
    add_trace(kb_engine, "m" + "5" * 31, model="brand-new-model", start=now - timedelta(minutes=2))
    with kb_engine.begin() as connection:
        connection.execute(
            insert(EvalPriority.__table__),  # type: ignore[attr-defined]
            [{"trace_id": "d" + "2" * 31, "reason": "thumbs_down", "priority": 100, "created_at": now}],
        )
    order: list[str] = []
    config = WorkerConfig(kb_name="support", batch_size=1, judge_share=0.25, new_version_hours=1.0)
    Worker(kb_engine, config, scorers=scorers, on_batch_claimed=order.extend).run_until_idle()
    assert order[0] == "d" + "2" * 31  # the thumbs-down trace is processed first
    jobs = jobs_by_id(kb_engine)
    assert jobs["e" + "1" * 31].sampled_reason == "error"
    assert jobs["d" + "2" * 31].sampled_reason == "thumbs_down"
    assert jobs["w" + "3" * 31].sampled_reason == "tier1_flagged"
    assert jobs["n" + "4" * 31].sampled_reason == "new_version"
    assert jobs["m" + "5" * 31].sampled_reason == "new_model"
    shared = {t for t in plain if in_share(t, 0.25)}
    assert 0 < len(shared) < len(plain)
    assert {t for t in plain if jobs[t].sampled_reason == "share"} == shared
    assert all(jobs[t].judge_state == "skipped" for t in plain if t not in shared)
    judged = {t for t, j in jobs.items() if j.judge_state == "done"}
    assert judged == {t for t, j in jobs.items() if j.sampled_reason is not None}
    assert all_once(score_counts(kb_engine), [(t, r) for t in judged for r in ("faithfulness", "relevance")])
    assert endpoint.requests == 2 * len(judged)


def test_sampling_policy_rejects_bad_shares_and_is_deterministic() -> None:
    with pytest.raises(ValueError, match="judge_share"):
        SamplingPolicy(judge_share=1.5)
    with pytest.raises(ValueError, match="new_version_hours"):
        SamplingPolicy(new_version_hours=-1)
    ids = [f"{i:032x}" for i in range(2000)]
    picked = [t for t in ids if in_share(t, 0.1)]
    assert picked == [t for t in ids if in_share(t, 0.1)]
    assert 150 < len(picked) < 250
    assert not in_share(ids[0], 0.0) and in_share(ids[0], 1.0)


def test_thumbs_down_after_the_worker_finished_reopens_the_trace_for_the_judge(
    kb_engine: Engine, judge_up: tuple[list[object], Switchable]
) -> None:
    scorers, endpoint = judge_up
    add_trace(kb_engine, "a" * 32)
    config = WorkerConfig(kb_name="support", judge_share=0.0, new_version_hours=0.0)
    worker = Worker(kb_engine, config, scorers=scorers)
    worker.run_until_idle()
    assert jobs_by_id(kb_engine)["a" * 32].judge_state == "skipped" and endpoint.requests == 0
    with kb_engine.begin() as connection:
        connection.execute(
            insert(EvalPriority.__table__),  # type: ignore[attr-defined]
            [{"trace_id": "a" * 32, "reason": "thumbs_down", "priority": 100, "created_at": datetime.now(UTC)}],
        )
    report = worker.run_until_idle()
    job = jobs_by_id(kb_engine)["a" * 32]
    assert (job.judge_state, job.sampled_reason, report.judged) == ("done", "thumbs_down", 1)
    assert all_once(check_counts(kb_engine), ["a" * 32])  # tier 1 is not repeated
    assert all_once(score_counts(kb_engine), [("a" * 32, "faithfulness"), ("a" * 32, "relevance")])
    with kb_engine.connect() as connection:
        claimed = connection.execute(select(EvalPriority.__table__.c.claimed_at)).scalar_one()  # type: ignore[attr-defined]
    assert claimed is not None
    assert worker.run_until_idle().claimed == 0


def test_judge_down_keeps_tier1_going_and_leaves_judge_items_pending_with_backoff(kb_engine: Engine) -> None:
    endpoint = Switchable(up=False)
    scorers, http, _ = make_scorers(endpoint)
    try:
        ids = add_traces(kb_engine, 12, wrong_every=3)  # 4 flagged -> sampled
        config = WorkerConfig(
            kb_name="support", batch_size=50, judge_share=0.0, judge_backoff_s=120.0, new_version_hours=0.0
        )
        worker = Worker(kb_engine, config, scorers=scorers)
        report = worker.run_until_idle()
        assert report.checked == 12 and report.judge_failed == 4 and report.judged == 0
        assert endpoint.requests == 1  # the first failure stops the batch's judge calls
        assert all_once(check_counts(kb_engine), ids)
        jobs = jobs_by_id(kb_engine)
        pending = {t for t, j in jobs.items() if j.judge_state == "pending"}
        assert pending == set(ids[::3])
        db_now = _db_now(kb_engine)
        for trace_id in pending:
            job = jobs[trace_id]
            assert job.status == "pending" and job.judge_attempts == 1 and job.tier1_done
            assert "judge failed" in job.last_error and "Connection refused" in job.last_error
            due = job_sql.aware(job.next_attempt_at) - db_now
            assert timedelta(seconds=100) < due <= timedelta(seconds=121)
        assert worker.run_until_idle().claimed == 0  # not due yet
        # Time passes (the backoff is over) and the judge is back.
        with kb_engine.begin() as connection:
            connection.execute(update(JOB).values(next_attempt_at=db_now - timedelta(seconds=1)))
        endpoint.up = True
        report = worker.run_until_idle()
        assert report.judged == 4 and report.checked == 0
        assert all_once(check_counts(kb_engine), ids)
        assert all_once(score_counts(kb_engine), [(t, r) for t in pending for r in ("faithfulness", "relevance")])
        assert {j.status for j in jobs_by_id(kb_engine).values()} == {"done"}
    finally:
        http.close()


def test_judge_that_keeps_failing_ends_unscored_after_max_attempts(kb_engine: Engine) -> None:
    endpoint = Switchable(up=False)
    scorers, http, _ = make_scorers(endpoint)
    try:
        add_trace(kb_engine, "w" * 32, answer=WRONG)
        config = WorkerConfig(kb_name="support", judge_share=0.0, judge_backoff_s=0.0, judge_max_attempts=3)
        Worker(kb_engine, config, scorers=scorers).run_until_idle()
        job = jobs_by_id(kb_engine)["w" * 32]
        assert (job.status, job.judge_state, job.judge_attempts) == ("done", "unscored", 3)
        assert endpoint.requests == 3
        with kb_engine.connect() as connection:
            statuses = connection.execute(select(JudgeScore.__table__.c.status)).scalars().all()  # type: ignore[attr-defined]
        assert statuses == ["unscored"]  # the first rubric failed; stored once, never as a pass or fail
    finally:
        http.close()


def test_judge_budget_spent_today_stops_judging(kb_engine: Engine, judge_up: tuple[list[object], Switchable]) -> None:
    scorers, endpoint = judge_up
    add_trace(kb_engine, "j" * 32, is_eval=True, cost_usd=1.25, start=datetime.now(UTC) - timedelta(seconds=5))
    add_trace(kb_engine, "w" * 32, answer=WRONG)
    worker = Worker(kb_engine, WorkerConfig(kb_name="support", judge_daily_budget_usd=1.0), scorers=scorers)
    report = worker.run_until_idle()
    job = jobs_by_id(kb_engine)["w" * 32]
    assert (job.status, job.judge_state, report.over_budget) == ("done", "budget", 1)
    assert endpoint.requests == 0 and score_counts(kb_engine) == {}
    assert worker.run_until_idle().claimed == 0  # final: not retried


def test_yesterdays_judge_spend_does_not_count(kb_engine: Engine, judge_up: tuple[list[object], Switchable]) -> None:
    scorers, _ = judge_up
    add_trace(kb_engine, "j" * 32, is_eval=True, cost_usd=50.0, start=datetime.now(UTC) - timedelta(days=2))
    add_trace(kb_engine, "w" * 32, answer=WRONG)
    Worker(kb_engine, WorkerConfig(kb_name="support", judge_daily_budget_usd=1.0), scorers=scorers).run_until_idle()
    assert jobs_by_id(kb_engine)["w" * 32].judge_state == "done"


def test_a_worker_whose_lease_was_taken_over_writes_nothing(kb_engine: Engine) -> None:
    ids = add_traces(kb_engine, 8)
    other = Worker(kb_engine, WorkerConfig(kb_name="support", lease_s=60.0, owner="other"))
    reports = []

    def stall(claimed: list[str]) -> None:
        time.sleep(1.2)  # the lease (1 s) expires while this worker is stuck
        reports.append(other.run_until_idle())

    slow = Worker(kb_engine, WorkerConfig(kb_name="support", lease_s=1.0, owner="slow"), on_batch_claimed=stall)
    report = slow.run_batch()
    assert report.claimed == 8 and report.lost == 8 and report.checked == 0
    assert reports[0].checked == 8
    assert all_once(check_counts(kb_engine), ids)


def test_clock_skew_does_not_steal_leases_and_timestamps_come_from_the_database(kb_engine: Engine) -> None:
    ids = add_traces(kb_engine, 5)
    ahead = Worker(kb_engine, WorkerConfig(kb_name="support", clock_offset_s=7200.0, owner="ahead"))
    behind_reports = []

    def meanwhile(claimed: list[str]) -> None:
        # A worker two hours behind tries to work while "holder" holds a 60 s lease.
        behind_reports.append(
            Worker(kb_engine, WorkerConfig(kb_name="support", clock_offset_s=-7200.0)).run_until_idle()
        )
        behind_reports.append(ahead.run_until_idle())

    holder = Worker(
        kb_engine, WorkerConfig(kb_name="support", lease_s=60.0, owner="holder"), on_batch_claimed=meanwhile
    )
    assert holder.run_batch().checked == 5
    assert [r.claimed for r in behind_reports] == [0, 0]
    assert all_once(check_counts(kb_engine), ids)
    assert ahead.local_now() - datetime.now(UTC) > timedelta(hours=1.9)
    db_now = _db_now(kb_engine)
    for job in jobs_by_id(kb_engine).values():
        assert abs(job_sql.aware(job.updated_at) - db_now) < timedelta(seconds=30)
        assert abs(job_sql.aware(job.created_at) - db_now) < timedelta(seconds=30)


def test_expired_leases_come_back_and_a_trace_that_keeps_dying_fails(kb_engine: Engine) -> None:
    add_trace(kb_engine, "k" * 32)
    worker = Worker(kb_engine, WorkerConfig(kb_name="support", max_attempts=3))
    worker.discover(full=True)
    for attempt in range(3):
        with kb_engine.begin() as connection:
            claimed = job_sql.claim_jobs(connection, owner=f"dies-{attempt}", limit=10, lease_s=0.05)
        assert [c.trace_id for c in claimed] == ["k" * 32]
        time.sleep(0.1)  # the process "died": its lease expires
    worker.discover()
    job = jobs_by_id(kb_engine)["k" * 32]
    assert job.status == "failed" and "3 times" in job.last_error
    assert check_counts(kb_engine) == {}


def test_traces_without_a_text_answer_are_done_without_a_check(kb_engine: Engine) -> None:
    add_trace(kb_engine, "x" * 32, answer=None, status="error")
    report = Worker(kb_engine, WorkerConfig(kb_name="support")).run_until_idle()
    job = jobs_by_id(kb_engine)["x" * 32]
    assert (job.status, job.judge_state, job.last_error, report.no_answer) == ("done", "skipped", "no text answer", 1)
    assert job.sampled_reason == "error" and check_counts(kb_engine) == {}


def test_late_root_spans_are_found_by_the_periodic_full_scan(kb_engine: Engine) -> None:
    worker = Worker(kb_engine, WorkerConfig(kb_name="support", discovery_lookback_s=60.0, full_scan_every_s=3600))
    add_trace(kb_engine, "n" * 32, start=datetime.now(UTC))
    assert worker.discover() == 1  # first call: full scan
    add_trace(kb_engine, "o" * 32, start=datetime.now(UTC) - timedelta(hours=3))  # arrives late
    assert worker.discover() == 0  # incremental: older than the lookback
    assert worker.discover(full=True) == 1


def test_worker_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        WorkerConfig(kb_name="x", batch_size=0)
    with pytest.raises(ValueError, match="judge_share"):
        WorkerConfig(kb_name="x", judge_share=2.0)
    with pytest.raises(ValueError, match="budget"):
        WorkerConfig(kb_name="x", judge_daily_budget_usd=-1.0)


def test_start_worker_runs_in_a_thread_until_stopped(kb_engine: Engine) -> None:
    ids = add_traces(kb_engine, 20)
    handle = start_worker(kb_engine, kb_name="support", batch_size=5, poll_interval_s=0.05)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(check_counts(kb_engine)) < 20:
            time.sleep(0.05)
        add_trace(kb_engine, "z" * 32)  # arrives while the worker polls
        while time.monotonic() < deadline and len(check_counts(kb_engine)) < 21:
            time.sleep(0.05)
    finally:
        handle.stop()
    assert not handle.running
    assert all_once(check_counts(kb_engine), [*ids, "z" * 32])


def test_unknown_kb_is_a_clear_error(engine: Engine) -> None:
    from llmmon.errors import KnowledgeBaseError

    add_trace(engine, "a" * 32)
    with pytest.raises(KnowledgeBaseError):
        Worker(engine, WorkerConfig(kb_name="nope")).run_until_idle()
    job = jobs_by_id(engine)["a" * 32]
    assert job.status == "running" and not job.tier1_done  # claimed; the lease will bring it back
