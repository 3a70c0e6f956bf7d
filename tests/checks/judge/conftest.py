"""Fixtures for judge tests: spans go to an in-memory recorder; endpoints are scripted transports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmmon.config import Settings
from llmmon.tracing.recorder import InMemoryRecorder
from llmmon.tracing.runtime import configure, shutdown


@pytest.fixture(autouse=True)
def spans(tmp_path: Path) -> Iterator[InMemoryRecorder]:
    """Every judge test records spans in memory (never into a llmmon.db in the working directory)."""
    recorder = InMemoryRecorder()
    configure(Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}"), recorder=recorder)
    yield recorder
    shutdown()


class SleepLog:
    """An injected ``sleep``: remembers the delays the judge asked for instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepLog:
    """The delays the judge would have slept between retries."""
    return SleepLog()
