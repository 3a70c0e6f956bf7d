"""A rendered prompt's version reaches the LLM spans started after it in the same trace only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import llmmon
from llmmon.tracing.context import finish_span, new_span
from llmmon.tracing.recorder import InMemoryRecorder

PROMPT = """\
name: greet
versions:
  - version: v7
    messages:
      - {role: user, content: "Hello {{ name }}"}
"""


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[InMemoryRecorder]:
    (tmp_path / "greet.yaml").write_text(PROMPT, encoding="utf-8")
    memory = InMemoryRecorder()
    llmmon.configure(llmmon.Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", prompts_dir=tmp_path),
                     recorder=memory)  # fmt: skip
    yield memory
    llmmon.shutdown()


def test_llm_span_started_after_render_carries_the_prompt_version(recorder: InMemoryRecorder, tmp_path: Path) -> None:
    @llmmon.trace
    def answer() -> None:
        llmmon.prompt("greet", prompts_dir=tmp_path).render(name="Ada")
        with llmmon.span("generate"):
            llm = new_span("openai.chat.completions.create", kind="llm")
            assert llm is not None
            finish_span(llm)

    @llmmon.trace
    def unrelated() -> None:
        llm = new_span("openai.chat.completions.create", kind="llm")
        assert llm is not None
        finish_span(llm)

    answer()
    unrelated()  # same thread and context: the earlier trace's stamp must not leak into it
    llm_spans = [span for span in recorder.spans if span.kind == "llm"]
    assert [(s.prompt_name, s.prompt_version) for s in llm_spans] == [("greet", "v7"), (None, None)]
    root = next(span for span in recorder.spans if span.name.endswith("answer"))
    assert (root.prompt_name, root.prompt_version) == ("greet", "v7")
