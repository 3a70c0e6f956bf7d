"""Several worker processes on one real PostgreSQL database: shared work, SIGKILL mid-batch, clock skew.

Each worker is a separate Python process (``tests/monitor/worker_proc.py``) running the real
``Worker`` with a recorded judge over ``httpx.MockTransport``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from llmmon.monitor.sampling import in_share
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from llmmon.storage.models import EvalJob
from tests.monitor.worker_support import add_traces, all_once, check_counts, jobs_by_id, score_counts, seed_kb
from tests.support.pgserver import PostgresServer

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
RUBRICS = ("faithfulness", "relevance")


@pytest.fixture
def pg(postgres_server: PostgresServer) -> Iterator[tuple[str, Engine]]:
    url = postgres_server.create_database(f"w_{os.getpid()}_{time.monotonic_ns() % 10**9}")
    engine = make_engine(url)
    upgrade_database(engine)
    seed_kb(engine)
    yield url, engine
    engine.dispose()


def _spawn(url: str, owner: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.monitor.worker_proc", "--db", url, "--owner", owner, *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _report(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return report


def _expected_scores(engine: Engine, share: float) -> list[tuple[str, str]]:
    jobs = jobs_by_id(engine)
    sampled = [t for t, j in jobs.items() if j.sampled_reason is not None]
    assert {t for t in jobs if in_share(t, share)} <= set(sampled)
    return [(t, r) for t in sampled for r in RUBRICS]


def test_two_worker_processes_share_the_queue_and_score_every_trace_once(pg: tuple[str, Engine]) -> None:
    url, engine = pg
    ids = add_traces(engine, 300, wrong_every=10)
    options = ("--batch", "10", "--share", "0.3", "--judge-delay", "0.01")
    first, second = _spawn(url, "A", *options), _spawn(url, "B", *options)
    reports = [_report(first), _report(second)]
    assert all(r["claimed"] > 0 for r in reports), reports  # both did part of the work
    assert sum(r["checked"] for r in reports) == 300
    assert all_once(check_counts(engine), ids)
    assert all_once(score_counts(engine), _expected_scores(engine, 0.3))
    assert {j.status for j in jobs_by_id(engine).values()} == {"done"}


def _kill(proc: subprocess.Popen[str]) -> None:
    """SIGKILL: no cleanup, no finally blocks, no chance to release a lease."""
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def _wait_for_claim(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("claimed"), (line, proc.stderr.read() if proc.stderr else "")


def _wait_for_expiry(engine: Engine, deadline_s: float = 30.0) -> None:
    table = EvalJob.__table__  # type: ignore[attr-defined]
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with engine.connect() as connection:
            live = connection.execute(
                select(func.count()).where(table.c.status == "running", table.c.lease_expires_at >= func.now())
            ).scalar_one()
        if live == 0:
            return
        time.sleep(0.1)
    raise AssertionError("leases did not expire")


def test_worker_killed_after_claiming_a_batch_is_finished_by_another_none_double_scored(
    pg: tuple[str, Engine],
) -> None:
    url, engine = pg
    ids = add_traces(engine, 40, wrong_every=4)
    victim = _spawn(url, "victim", "--batch", "15", "--lease", "2", "--hold-after-claim", "60")
    _wait_for_claim(victim)
    _kill(victim)
    held = [j for j in jobs_by_id(engine).values() if j.lease_owner == "victim"]
    assert len(held) == 15 and check_counts(engine) == {}
    _wait_for_expiry(engine)
    report = _report(_spawn(url, "rescuer", "--batch", "15"))
    assert report["checked"] == 40
    assert all_once(check_counts(engine), ids)
    assert all_once(score_counts(engine), _expected_scores(engine, 0.3))


def test_worker_killed_while_judging_keeps_its_tier1_and_the_judge_runs_once(pg: tuple[str, Engine]) -> None:
    url, engine = pg
    ids = add_traces(engine, 20, wrong_every=2)
    # The judge hangs: tier 1 of the batch is committed, then the process dies inside a judge call.
    victim = _spawn(url, "victim", "--batch", "20", "--lease", "2", "--share", "0", "--judge-delay", "60")
    table = EvalJob.__table__  # type: ignore[attr-defined]
    end = time.monotonic() + 60
    while time.monotonic() < end:
        with engine.connect() as connection:
            done = connection.execute(select(func.count()).where(table.c.tier1_done.is_(True))).scalar_one()
        if done == 20:
            break
        time.sleep(0.05)
    _kill(victim)
    assert all_once(check_counts(engine), ids)
    pending = {t for t, j in jobs_by_id(engine).items() if j.judge_state == "pending"}
    assert pending == set(ids[::2]) and score_counts(engine) == {}
    _wait_for_expiry(engine)
    report = _report(_spawn(url, "rescuer", "--share", "0"))
    assert report["checked"] == 0 and report["judged"] == 10
    assert all_once(check_counts(engine), ids)
    assert all_once(score_counts(engine), [(t, r) for t in pending for r in RUBRICS])


def test_a_worker_with_a_clock_two_hours_ahead_does_not_take_live_leases(pg: tuple[str, Engine]) -> None:
    url, engine = pg
    ids = add_traces(engine, 10)
    holder = _spawn(url, "holder", "--batch", "10", "--lease", "60", "--hold-after-claim", "60")
    try:
        _wait_for_claim(holder)
        skewed = _report(_spawn(url, "skewed", "--clock-offset", "7200"))
        assert skewed["claimed"] == 0 and check_counts(engine) == {}
    finally:
        _kill(holder)
    assert {j.lease_owner for j in jobs_by_id(engine).values()} == {"holder"}
    assert len(ids) == 10
