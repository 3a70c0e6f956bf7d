"""Faults around the recorder: unavailable, locked, deleted and restarted databases, spool
replay across processes, queue and spool bounds. The caller never sees an error."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmmon
from tests.support.pgserver import PostgresServer
from tests.tracing.conftest import configure_database, flush_until_stored, span_rows

REPO = Path(__file__).resolve().parents[2]


def _trace_many(count: int, name: str = "work") -> None:
    traced = llmmon.trace(name=name)(lambda i: i * 2)
    for i in range(count):
        assert traced(i) == i * 2


@pytest.fixture(autouse=True)
def _shutdown_after() -> Iterator[None]:
    yield
    llmmon.shutdown()


def test_unwritable_database_spools_then_replays(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db_path = tmp_path / "traces.db"
    db_path.mkdir()  # a directory where the file should be: SQLite cannot open it (even as root)
    url = f"sqlite:///{db_path}"
    configure_database(url, tmp_path / "spool")
    with caplog.at_level(logging.WARNING, logger="llmmon"):
        _trace_many(25)
        result = llmmon.flush(5)
    assert (result.written, result.pending, result.dropped) == (0, 25, 0)
    assert "database unavailable" in caplog.text
    stats = llmmon.stats()
    assert stats["database_available"] is False and stats["spooled"] == 25
    assert list((tmp_path / "spool").rglob("*.jsonl*"))
    db_path.rmdir()
    result = flush_until_stored()
    assert (result.written, result.pending, result.dropped) == (25, 0, 0)
    assert len(span_rows(url)) == 25
    assert not list((tmp_path / "spool").rglob("*.jsonl*"))  # replayed segments are deleted


def test_locked_database_spools_until_lock_released(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'traces.db'}"
    configure_database(url, tmp_path / "spool")
    _trace_many(3, name="before")
    assert llmmon.flush(10).written == 3
    blocker = sqlite3.connect(tmp_path / "traces.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        started = time.perf_counter()
        _trace_many(40, name="during")
        assert time.perf_counter() - started < 1.0  # the caller is not held up by the lock
        result = llmmon.flush(5)
        assert result.written == 3 and result.pending == 40
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    result = flush_until_stored()
    assert (result.written, result.pending, result.dropped) == (43, 0, 0)
    names = [row["name"] for row in span_rows(url)]
    assert names.count("during") == 40 and names.count("before") == 3


def test_database_file_deleted_mid_run_is_recreated(tmp_path: Path) -> None:
    db_file = tmp_path / "traces.db"
    url = f"sqlite:///{db_file}"
    configure_database(url, tmp_path / "spool")
    _trace_many(5, name="old")
    assert llmmon.flush(10).written == 5
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    _trace_many(7, name="new")
    result = flush_until_stored()
    assert result.pending == 0 and result.dropped == 0
    rows = span_rows(url)
    assert db_file.exists()
    assert sorted(row["name"] for row in rows) == ["new"] * 7


def test_queue_overflow_counts_drops(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A long flush interval and a large batch keep the writer asleep while we record.
    configure_database(
        f"sqlite:///{tmp_path / 'traces.db'}", tmp_path / "spool", queue_max_spans=5, batch_size=1000,
        flush_interval_s=30,
    )  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="llmmon"):
        _trace_many(50)
    stats = llmmon.stats()
    assert stats["dropped_by_reason"] == {"queue_full": 45}
    assert "dropped" in caplog.text
    result = llmmon.flush(10)
    assert (result.written, result.pending, result.dropped) == (5, 0, 45)


def test_queue_byte_budget_counts_drops(tmp_path: Path) -> None:
    configure_database(f"sqlite:///{tmp_path / 'traces.db'}", tmp_path / "spool", queue_max_bytes=4096)
    big = llmmon.trace(name="big")(lambda: "y" * 10_000)
    small = llmmon.trace(name="small")(lambda: "y")
    for _ in range(3):
        big()
        small()
    result = llmmon.flush(10)
    assert result.written == 3 and result.dropped == 3
    assert llmmon.stats()["dropped_by_reason"] == {"queue_bytes": 3}


def test_spool_bound_counts_drops_while_database_down(tmp_path: Path) -> None:
    db_path = tmp_path / "down.db"
    db_path.mkdir()
    configure_database(f"sqlite:///{db_path}", tmp_path / "spool", spool_max_bytes=4096)
    _trace_many(100)
    result = llmmon.flush(5)
    stats = llmmon.stats()
    assert result.written == 0
    assert result.dropped == stats["dropped_by_reason"]["spool_full"] > 0
    assert result.pending + result.dropped == 100
    assert stats["spool_bytes"] <= 4096


def _run_python(code: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **env_extra}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120,
        cwd=REPO,
    )  # fmt: skip


def test_spool_is_replayed_by_a_new_process(tmp_path: Path) -> None:
    db_path = tmp_path / "traces.db"
    db_path.mkdir()  # dead database for the first process
    env = {
        "LLMMON_DATABASE_URL": f"sqlite:///{db_path}",
        "LLMMON_SPOOL_DIR": str(tmp_path / "spool"),
        "LLMMON_RETRY_INITIAL_BACKOFF_S": "0.05",
        "LLMMON_FLUSH_INTERVAL_S": "0.02",
    }
    first = _run_python(
        """
        import llmmon
        traced = llmmon.trace(name="offline")(lambda i: i)
        for i in range(120):
            traced(i)
        # no flush: the atexit hook spools what is queued
        """,
        env,
    )
    assert first.returncode == 0, first.stderr
    assert "database unavailable" in first.stderr
    assert list((tmp_path / "spool").rglob("*.jsonl"))
    db_path.rmdir()
    second = _run_python(
        """
        import time, llmmon
        llmmon.configure()
        deadline = time.monotonic() + 30
        while (result := llmmon.flush(2)).pending and time.monotonic() < deadline:
            time.sleep(0.05)
        print(result.written, result.pending, result.dropped)
        """,
        env,
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.split() == ["120", "0", "0"]
    rows = span_rows(f"sqlite:///{db_path}")
    assert len(rows) == 120 and {row["name"] for row in rows} == {"offline"}


def test_atexit_flushes_without_explicit_flush(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'traces.db'}"
    done = _run_python(
        """
        import llmmon
        llmmon.configure()
        traced = llmmon.trace(name="quick")(lambda: None)
        for _ in range(30):
            traced()
        """,
        {"LLMMON_DATABASE_URL": url, "LLMMON_SPOOL_DIR": str(tmp_path / "spool")},
    )
    assert done.returncode == 0, done.stderr
    assert len(span_rows(url)) == 30


@pytest.mark.postgres
def test_postgres_stopped_and_restarted_loses_nothing() -> None:
    try:
        server = PostgresServer(Path(tempfile.mkdtemp(prefix="llmmon-pg-restart-")))
        server.init()
        server.start()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    spool = Path(tempfile.mkdtemp(prefix="llmmon-spool-"))
    try:
        url = server.create_database("restart")
        configure_database(url, spool)
        _trace_many(30, name="before")
        assert llmmon.flush(10).written == 30
        server.stop("fast")
        started = time.perf_counter()
        _trace_many(40, name="during")
        assert time.perf_counter() - started < 1.0
        down = llmmon.flush(5)
        assert down.written == 30 and down.pending == 40
        server.start()
        result = flush_until_stored(timeout=30)
        assert (result.written, result.pending, result.dropped) == (70, 0, 0)
        names = [row["name"] for row in span_rows(url)]
        assert len(names) == 70 and names.count("during") == 40
    finally:
        llmmon.shutdown()
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop("immediate")
        shutil.rmtree(server.base_dir, ignore_errors=True)
        shutil.rmtree(spool, ignore_errors=True)
