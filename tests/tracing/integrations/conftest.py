"""Fixtures for the integration tests: an in-memory recorder behind the real tracing runtime,
and helpers that drive the real OpenAI SDK through ``httpx.MockTransport``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from llmmon.tracing.recorder import InMemoryRecorder
from llmmon.tracing.runtime import configure, shutdown


@pytest.fixture
def recorder(tmp_path: Any) -> Iterator[InMemoryRecorder]:
    """Tracing configured with an in-memory recorder; shut down after the test."""
    memory = InMemoryRecorder()
    configure(recorder=memory, database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    yield memory
    shutdown()


def sse(events: list[Any], *, done: bool = True) -> bytes:
    """Server-sent events as the OpenAI API sends them."""
    lines = [f"data: {json.dumps(event)}\n\n" for event in events]
    if done:
        lines.append("data: [DONE]\n\n")
    return "".join(lines).encode()


@pytest.fixture(autouse=True)
def no_swallowed_recording_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Integrations log and swallow their own failures; in these tests any such failure is a bug."""
    yield
    failures = [
        r.getMessage() for r in caplog.records if r.name == "llmmon" and "could not" in r.getMessage()
    ]
    assert failures == []
