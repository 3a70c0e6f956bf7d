"""A real Ctrl-C: SIGINT to a `llmmon eval run` subprocess keeps the finished trials, stored as `aborted`."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CASES = 100


def _stored_results(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=5) as connection:
        try:
            return int(connection.execute("SELECT count(*) FROM eval_result").fetchone()[0])
        except sqlite3.OperationalError:  # the schema is not there yet
            return 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_sigint_mid_run_stores_an_aborted_run_with_partial_results_and_exits_promptly(tmp_path: Path) -> None:
    cases = "\n".join(
        f"  - id: c{i}\n    input: Question {i}?\n    assertions:\n      - {{type: contains, value: Answer}}"
        for i in range(CASES)
    )
    suite, db = tmp_path / "slow.yaml", tmp_path / "e.db"
    suite.write_text(
        f"name: slow\ntarget: tests.evals.slow_targets:sleepy\nconcurrency: 2\ncases:\n{cases}\n", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMMON_") and k != "GITHUB_SHA"}
    env["PYTHONPATH"] = str(REPO)
    process = subprocess.Popen(
        [sys.executable, "-m", "llmmon", "eval", "run", str(suite), "--db", str(db)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60  # start-up on a busy machine; a full run takes ~15 s
        while _stored_results(db) == 0:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no results were stored within 60 s"
            time.sleep(0.1)
        before = _stored_results(db)
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
        took = time.monotonic() - interrupted
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert took < 10, f"exit took {took:.1f}s after SIGINT"
    assert process.returncode == 4, stdout + stderr  # an aborted run can block but never pass
    assert "aborted (interrupted (Ctrl-C))" in stdout and "Traceback" not in stderr

    with sqlite3.connect(db) as connection:
        status, reason, trials_run, planned = connection.execute(
            "SELECT status, stop_reason, trials_run, trials_planned FROM eval_run"
        ).fetchone()
        rows = connection.execute("SELECT case_id, verdict FROM eval_result").fetchall()
    assert (status, reason, planned) == ("aborted", "interrupted (Ctrl-C)", CASES)
    assert before <= len(rows) == trials_run < CASES
    assert {verdict for _, verdict in rows} == {"passed"}  # the finished trials, each once
    assert len({case_id for case_id, _ in rows}) == len(rows)
