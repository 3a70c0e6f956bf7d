"""LlmmonCallbackHandler with a real langchain-core chain: prompt | fake chat model | parser,
plus a retriever and a tool; sync, async, threaded batch, errors, streaming."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from langchain_core.tools import tool

import llmmon
from llmmon.integrations.langchain import LlmmonCallbackHandler
from llmmon.tracing.recorder import InMemoryRecorder
from llmmon.tracing.runtime import configure
from llmmon.tracing.span import SpanRecord

USAGE = {
    "input_tokens": 40,
    "output_tokens": 7,
    "total_tokens": 47,
    "input_token_details": {"cache_read": 32},
    "output_token_details": {"reasoning": 3},
}


class PolicyRetriever(BaseRetriever):
    """A tiny in-memory retriever over store policy snippets."""

    documents: list[Document]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = set(query.lower().split())
        return [d for d in self.documents if words & set(d.page_content.lower().split())]


@tool
def order_status(order_id: str) -> str:
    """Look up the shipping status of an order."""
    if order_id == "BAD":
        raise ValueError("no such order")
    return f"order {order_id} shipped"


def _model(count: int = 1, *, text: str = "Refunds take 7 days.") -> GenericFakeChatModel:
    messages = [
        AIMessage(
            content=text, usage_metadata=USAGE, response_metadata={"model_name": "gpt-4o-mini-2024-07-18"}
        )
        for _ in range(count)
    ]
    return GenericFakeChatModel(messages=iter(messages))


def _chain(model: GenericFakeChatModel, *, order_id: str = "A1") -> Runnable[Any, str]:
    retriever = PolicyRetriever(
        documents=[Document(page_content="refunds are paid within 7 days", metadata={"id": "refunds"})]
    )
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from: {context}. Order: {order}"), ("user", "{question}")]
    )

    def add_order(inputs: dict[str, Any]) -> dict[str, Any]:
        return {**inputs, "order": order_status.invoke({"order_id": order_id})}

    def join_docs(docs: list[Document]) -> str:
        return " ".join(d.page_content for d in docs)

    return (
        {"context": retriever | join_docs, "question": RunnablePassthrough()}
        | RunnableLambda(add_order)
        | prompt
        | model
        | StrOutputParser()
    )


@pytest.fixture
def handler() -> Iterator[LlmmonCallbackHandler]:
    callback = LlmmonCallbackHandler()
    yield callback
    assert callback.open_runs == 0  # every started run was ended exactly once


def _by_id(spans: list[SpanRecord]) -> dict[str, SpanRecord]:
    return {span.span_id: span for span in spans}


def _ancestors(span: SpanRecord, spans: dict[str, SpanRecord]) -> list[str]:
    names = []
    while span.parent_span_id is not None and span.parent_span_id in spans:
        span = spans[span.parent_span_id]
        names.append(span.name)
    return names


def _check_tree(spans: list[SpanRecord], root: SpanRecord) -> None:
    by_id = _by_id(spans)
    assert {span.trace_id for span in spans} == {root.trace_id}
    for span in spans:
        if span is not root:
            assert span.parent_span_id in by_id, f"{span.name} has no recorded parent"
    llm = next(span for span in spans if span.kind == "llm")
    retriever = next(span for span in spans if span.kind == "retriever")
    tool_span = next(span for span in spans if span.kind == "tool")
    assert by_id[llm.parent_span_id or ""] is root
    assert by_id[tool_span.parent_span_id or ""].name == "add_order"
    assert root.name in _ancestors(retriever, by_id)
    assert llm.model == "gpt-4o-mini-2024-07-18"
    assert llm.usage == {
        "input_tokens": 40,
        "output_tokens": 7,
        "total_tokens": 47,
        "cached_tokens": 32,
        "reasoning_tokens": 3,
    }
    assert llm.output == "Refunds take 7 days."
    assert llm.input["messages"][1] == {"role": "user", "content": "How long do refunds take?"}
    assert llm.input["messages"][0]["role"] == "system"
    assert "refunds are paid within 7 days" in llm.input["messages"][0]["content"]
    assert retriever.input == "How long do refunds take?"
    assert retriever.output == [
        {"page_content": "refunds are paid within 7 days", "metadata": {"id": "refunds"}}
    ]
    assert tool_span.name == "order_status"
    assert tool_span.output == "order A1 shipped"
    assert all(span.status == "ok" and span.perf_end_ns is not None for span in spans)


def test_handler_records_chain_as_span_tree_under_current_span(
    recorder: InMemoryRecorder, handler: LlmmonCallbackHandler
) -> None:
    with llmmon.span("answer") as app_span:
        answer = _chain(_model()).invoke("How long do refunds take?", config={"callbacks": [handler]})
    assert answer == "Refunds take 7 days."
    spans = [span for span in recorder.spans if span.span_id != app_span.span_id]
    root = next(span for span in spans if span.parent_span_id == app_span.span_id)
    assert root.kind == "chain" and root.name == "RunnableSequence"
    assert root.output == "Refunds take 7 days."
    _check_tree(spans, root)
    assert len(spans) >= 9  # sequence, parallel, retriever sub-chain, retriever, ..., parser


def test_handler_starts_a_trace_without_a_current_span(
    recorder: InMemoryRecorder, handler: LlmmonCallbackHandler
) -> None:
    _chain(_model()).invoke("How long do refunds take?", config={"callbacks": [handler]})
    roots = [span for span in recorder.spans if span.parent_span_id is None]
    assert len(roots) == 1
    _check_tree(recorder.spans, roots[0])


async def test_handler_async_chain(recorder: InMemoryRecorder, handler: LlmmonCallbackHandler) -> None:
    async with llmmon.span("async answer") as app_span:
        answer = await _chain(_model()).ainvoke("How long do refunds take?", config={"callbacks": [handler]})
    assert answer == "Refunds take 7 days."
    spans = [span for span in recorder.spans if span.span_id != app_span.span_id]
    root = next(span for span in spans if span.parent_span_id == app_span.span_id)
    _check_tree(spans, root)


def test_handler_is_safe_with_threaded_batch(
    recorder: InMemoryRecorder, handler: LlmmonCallbackHandler
) -> None:
    # batch() runs each input in a thread pool, calling the one handler concurrently.
    questions = ["How long do refunds take?"] * 8
    answers = _chain(_model(8)).batch(questions, config={"callbacks": [handler], "max_concurrency": 8})
    assert answers == ["Refunds take 7 days."] * 8
    roots = [span for span in recorder.spans if span.parent_span_id is None]
    assert len(roots) == 8
    assert len({root.trace_id for root in roots}) == 8
    for root in roots:
        _check_tree([span for span in recorder.spans if span.trace_id == root.trace_id], root)


def test_handler_shared_by_threads_each_with_own_parent(
    recorder: InMemoryRecorder, handler: LlmmonCallbackHandler
) -> None:
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            with llmmon.span(f"request-{index}"):
                _chain(_model()).invoke("How long do refunds take?", config={"callbacks": [handler]})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for index in range(6):
        app = recorder.by_name(f"request-{index}")[0]
        spans = [s for s in recorder.spans if s.trace_id == app.trace_id and s is not app]
        root = next(s for s in spans if s.parent_span_id == app.span_id)
        _check_tree(spans, root)


def test_handler_records_tool_error_and_chain_error(
    recorder: InMemoryRecorder, handler: LlmmonCallbackHandler
) -> None:
    with pytest.raises(ValueError, match="no such order"):
        _chain(_model(), order_id="BAD").invoke("How long do refunds take?", config={"callbacks": [handler]})
    tool_span = next(span for span in recorder.spans if span.kind == "tool")
    assert (tool_span.status, tool_span.error_type, tool_span.error_message) == (
        "error",
        "ValueError",
        "no such order",
    )
    root = next(span for span in recorder.spans if span.parent_span_id is None)
    assert root.status == "error" and root.error_type == "ValueError"
    assert not [span for span in recorder.spans if span.kind == "llm"]  # the model was never reached


def test_handler_streaming_records_time_to_first_token(
    recorder: InMemoryRecorder, handler: LlmmonCallbackHandler
) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage(content="Refunds take seven days")]))
    chunks = list(
        (ChatPromptTemplate.from_messages([("user", "{q}")]) | model).stream(
            {"q": "refunds?"}, config={"callbacks": [handler]}
        )
    )
    assert "".join(str(chunk.content) for chunk in chunks) == "Refunds take seven days"
    llm = next(span for span in recorder.spans if span.kind == "llm")
    assert llm.ttft_ms is not None and llm.ttft_ms <= (llm.latency_ms or 0)
    assert llm.output == "Refunds take seven days"
    assert llm.usage is None  # the fake model reports none: the writer estimates and flags it


def test_handler_records_llm_error(recorder: InMemoryRecorder, handler: LlmmonCallbackHandler) -> None:
    model = GenericFakeChatModel(messages=iter([]))  # exhausted: raises on first call
    with pytest.raises(Exception) as excinfo:
        model.invoke("hi", config={"callbacks": [handler]})
    span = _only(recorder.spans)
    assert span.kind == "llm" and span.status == "error"
    assert span.error_type == type(excinfo.value).__qualname__


def test_handler_skips_children_of_an_untraced_run(handler: LlmmonCallbackHandler, tmp_path: Any) -> None:
    memory = InMemoryRecorder()
    configure(recorder=memory, enabled=False, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    try:
        _chain(_model()).invoke("How long do refunds take?", config={"callbacks": [handler]})
    finally:
        llmmon.shutdown()
    assert memory.spans == []


def _only(spans: list[SpanRecord]) -> SpanRecord:
    assert len(spans) == 1, spans
    return spans[0]
