"""Fixtures for tracing tests: an in-memory recorder installed as the active runtime."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import llmmon
from llmmon.tracing.recorder import InMemoryRecorder


@pytest.fixture
def memory() -> Iterator[InMemoryRecorder]:
    """Trace into a list for the duration of one test."""
    recorder = InMemoryRecorder()
    llmmon.configure(recorder=recorder)
    yield recorder
    llmmon.shutdown()
