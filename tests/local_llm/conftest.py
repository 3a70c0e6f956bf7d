"""Fixtures for ``local_llm`` tests: one real llama-server per module, spans kept in memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llmmon.config import Settings
from llmmon.tracing.recorder import InMemoryRecorder
from llmmon.tracing.runtime import configure, shutdown
from tests.support.llama_server import LlamaServer, start_llama_server


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """llama-server with gemma3-270m on 127.0.0.1 (skipped locally, failing in CI, when not installed)."""
    server = start_llama_server(tmp_path_factory.mktemp("llama"))
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def spans(tmp_path: Path) -> Iterator[InMemoryRecorder]:
    """Spans of each test, in memory."""
    recorder = InMemoryRecorder()
    configure(Settings(database_url=f"sqlite:///{tmp_path / 'unused.db'}"), recorder=recorder)
    yield recorder
    shutdown()
