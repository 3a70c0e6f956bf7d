"""Fixtures for tracing tests: an in-memory recorder installed as the active runtime."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import llmmon
import llmmon.tracing
from llmmon.storage.engine import make_engine
from llmmon.tracing.recorder import InMemoryRecorder


@pytest.fixture
def memory() -> Iterator[InMemoryRecorder]:
    """Trace into a list for the duration of one test."""
    recorder = InMemoryRecorder()
    llmmon.configure(recorder=recorder)
    yield recorder
    llmmon.shutdown()


def configure_database(url: str, spool_dir: Path, **overrides: Any) -> llmmon.tracing.Runtime:
    """The real database recorder with test-sized backoffs and intervals."""
    options: dict[str, Any] = {
        "database_url": url,
        "spool_dir": spool_dir,
        "flush_interval_s": 0.02,
        "retry_initial_backoff_s": 0.05,
        "retry_max_backoff_s": 0.2,
        "db_busy_timeout_s": 0.1,
    }
    options.update(overrides)
    return llmmon.configure(**options)


def span_rows(url: str, where: str = "") -> list[dict[str, Any]]:
    """Every stored span row (as dicts), read with a fresh engine."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            result = connection.execute(text(f"SELECT * FROM span {where}"))
            return [dict(row._mapping) for row in result]
    finally:
        engine.dispose()


def flush_until_stored(expected_pending: int = 0, timeout: float = 20.0) -> llmmon.FlushResult:
    """Flush repeatedly until nothing is pending (the writer may be in a retry backoff)."""
    deadline = time.monotonic() + timeout
    while True:
        result = llmmon.flush(2.0)
        if result.pending <= expected_pending or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


@pytest.fixture
def traced_db(db_url: str, tmp_path: Path) -> Iterator[str]:
    """The database recorder on ``db_url`` (SQLite file and PostgreSQL), shut down after."""
    configure_database(db_url, tmp_path / "spool")
    yield db_url
    llmmon.shutdown()
