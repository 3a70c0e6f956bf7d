"""The recorder's two stages (drain thread serialises, database thread stores): flush and
counts stay exact while the database thread is slow, and an outage while serialised
batches wait in the hand-off loses nothing. The database is made slow for real, by a
second connection holding a write lock."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

import llmmon
from llmmon.storage.engine import make_engine, sqlite_path
from tests.tracing.conftest import configure_database, flush_until_stored, span_rows


@pytest.fixture(autouse=True)
def _shutdown_after() -> Iterator[None]:
    yield
    llmmon.shutdown()


@contextlib.contextmanager
def write_lock(url: str) -> Iterator[None]:
    """Hold a lock that makes every insert into ``span`` wait (SQLite: busy; PostgreSQL: blocked)."""
    path = sqlite_path(url)
    if path is not None:
        blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            yield
            blocker.execute("COMMIT")
        finally:
            blocker.close()
        return
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            transaction = connection.begin()
            connection.execute(text("LOCK TABLE span IN EXCLUSIVE MODE"))
            yield
            transaction.commit()
    finally:
        engine.dispose()


def _release_later(lock: contextlib.ExitStack, delay: float) -> threading.Thread:
    releaser = threading.Thread(target=lambda: (time.sleep(delay), lock.close()))
    releaser.start()
    return releaser


def _trace_many(count: int, name: str) -> None:
    traced = llmmon.trace(name=name)(lambda i: {"i": i, "text": "reply " * 20})
    for i in range(count):
        traced(i)


def test_flush_is_exact_while_the_database_thread_is_slow(db_url: str, tmp_path: Path) -> None:
    # Small batches so that several serialised batches queue up behind the blocked insert.
    configure_database(db_url, tmp_path / "spool", batch_size=20, db_busy_timeout_s=30)
    _trace_many(5, "warm-up")  # creates the schema, so the lock below has a table to hold
    assert llmmon.flush(30).written == 5
    lock = contextlib.ExitStack()
    lock.enter_context(write_lock(db_url))
    try:
        started = time.perf_counter()
        _trace_many(300, "slow")
        assert time.perf_counter() - started < 1.0  # the caller is not held up by the stuck insert
        time.sleep(0.3)  # let the drain thread fill the hand-off behind the blocked insert
        stats = llmmon.stats()
        assert stats["in_flight"] > 0  # serialised rows waiting for the database thread
        short = llmmon.flush(0.1)  # times out: nothing new is written while the lock is held
        assert short.written == 5 and short.dropped == 0
        assert short.pending == 300  # queued + in flight, none missed, none counted twice
        assert stats["queue_len"] + stats["in_flight"] + stats["spool_pending"] == stats["pending"] == 300
        releaser = _release_later(lock, 0.5)
        waited = time.perf_counter()
        result = llmmon.flush(30)
        assert time.perf_counter() - waited >= 0.4  # returned only once the rows were stored
        releaser.join()
    finally:
        lock.close()
    assert (result.written, result.pending, result.dropped) == (305, 0, 0)
    assert llmmon.stats()["in_flight"] == 0
    assert sum(1 for row in span_rows(db_url) if row["name"] == "slow") == 300


def test_spans_recorded_after_a_flush_do_not_hold_it(db_url: str, tmp_path: Path) -> None:
    configure_database(db_url, tmp_path / "spool", batch_size=10)
    _trace_many(40, "before")
    result = llmmon.flush(30)
    assert (result.written, result.pending, result.dropped) == (40, 0, 0)
    stop = threading.Event()

    def keep_tracing() -> None:
        while not stop.is_set():
            _trace_many(10, "after")
            time.sleep(0.002)

    producer = threading.Thread(target=keep_tracing)
    producer.start()
    try:
        _trace_many(25, "more")
        started = time.perf_counter()
        result = llmmon.flush(30)
        assert time.perf_counter() - started < 10
    finally:
        stop.set()
        producer.join()
    names = [row["name"] for row in span_rows(db_url)]
    assert names.count("before") == 40 and names.count("more") == 25  # all there when flush returned
    final = flush_until_stored()
    assert final.pending == 0 and final.dropped == 0
    assert final.written == len(span_rows(db_url))


def test_outage_while_batches_wait_in_the_handoff_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'traces.db'}"
    # The insert waits 0.4 s on the lock, then the database counts as unavailable.
    configure_database(url, tmp_path / "spool", batch_size=10, db_busy_timeout_s=0.4)
    _trace_many(3, "warm-up")
    assert llmmon.flush(10).written == 3
    with write_lock(url):
        _trace_many(200, "outage")  # 20 batches: the hand-off fills while the first insert waits
        down = llmmon.flush(10)
        stats = llmmon.stats()
    assert down.written == 3 and down.dropped == 0 and down.pending == 200
    assert stats["database_available"] is False
    assert stats["spooled"] == 200 and stats["in_flight"] == 0
    result = flush_until_stored()
    assert (result.written, result.pending, result.dropped) == (203, 0, 0)
    rows = span_rows(url)
    ids = [row["span_id"] for row in rows if row["name"] == "outage"]
    assert len(ids) == len(set(ids)) == 200
    assert not list((tmp_path / "spool").rglob("*.jsonl*"))


def test_close_waits_for_both_stages(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'traces.db'}"
    configure_database(url, tmp_path / "spool", batch_size=25, db_busy_timeout_s=30, flush_interval_s=5)
    _trace_many(2, "warm-up")
    assert llmmon.flush(10).written == 2
    lock = contextlib.ExitStack()
    lock.enter_context(write_lock(url))
    try:
        _trace_many(150, "closing")
        releaser = _release_later(lock, 0.3)
        result = llmmon.shutdown(30)
        releaser.join()
    finally:
        lock.close()
    assert (result.written, result.pending, result.dropped) == (152, 0, 0)
    assert not [t for t in threading.enumerate() if t.name in ("llmmon-writer", "llmmon-db")]
    assert len(span_rows(url)) == 152


def test_bad_row_in_merged_batches_is_dropped_alone(tmp_path: Path) -> None:
    from llmmon.tracing.context import finish_span, new_span

    url = f"sqlite:///{tmp_path / 'traces.db'}"
    configure_database(url, tmp_path / "spool", batch_size=10, db_busy_timeout_s=30)
    _trace_many(2, "warm-up")
    assert llmmon.flush(10).written == 2
    lock = contextlib.ExitStack()
    lock.enter_context(write_lock(url))
    try:
        _trace_many(15, "good")  # batches pile up behind the lock and are stored together
        bad = new_span("bad")
        assert bad is not None
        bad.name = None  # type: ignore[assignment]  # violates NOT NULL: the database refuses this row
        finish_span(bad)
        _trace_many(15, "good")
        time.sleep(0.3)
        releaser = _release_later(lock, 0.1)
        result = llmmon.flush(30)
        releaser.join()
    finally:
        lock.close()
    assert (result.written, result.pending, result.dropped) == (32, 0, 1)
    assert llmmon.stats()["dropped_by_reason"] == {"rejected": 1}
    assert sum(1 for row in span_rows(url) if row["name"] == "good") == 30
