"""The decorator and llmmon.span on every kind of callable, with an in-memory recorder."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import llmmon
from llmmon.tracing.context import activate, deactivate, finish_span, new_span
from llmmon.tracing.recorder import InMemoryRecorder


def test_trace_records_inputs_output_and_timing(memory: InMemoryRecorder) -> None:
    @llmmon.trace
    def add(a: int, b: int, *rest: int, scale: int = 1) -> int:
        return (a + b + sum(rest)) * scale

    assert add(1, 2, 3, 4, scale=2) == 20
    (span,) = memory.spans
    assert span.name.endswith("add")
    assert span.kind == "function"
    assert span.input == {"a": 1, "b": 2, "rest": [3, 4], "scale": 2}
    assert span.output == 20
    assert span.status == "ok"
    assert span.parent_span_id is None
    assert len(span.span_id) == 16 and len(span.trace_id) == 32
    assert span.latency_ms is not None and span.latency_ms >= 0


def test_trace_records_exception_and_reraises_same_object(memory: InMemoryRecorder) -> None:
    error = ValueError("bad question")

    @llmmon.trace(name="fails")
    def fails() -> None:
        raise error

    with pytest.raises(ValueError) as caught:
        fails()
    assert caught.value is error
    (span,) = memory.spans
    assert (span.status, span.error_type, span.error_message) == ("error", "ValueError", "bad question")


def test_trace_exception_with_broken_str_is_still_reraised(memory: InMemoryRecorder) -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    @llmmon.trace
    def fails() -> None:
        raise Weird()

    with pytest.raises(Weird):
        fails()
    assert (
        memory.spans[0].error_message
        == "<unprintable test_trace_exception_with_broken_str_is_still_reraised.<locals>.Weird>"
    )


def test_trace_nests_children_and_span_block(memory: InMemoryRecorder) -> None:
    @llmmon.trace(name="child")
    def child() -> str:
        current = llmmon.current_span()
        assert current is not None
        current.set_attribute("seen", True)
        return "c"

    @llmmon.trace(
        name="root",
        user_id=lambda question: f"u-{question}",
        session_id="s1",
        tags=["a", "a", "b"],
        metadata={"team": "support"},
    )
    def root(question: str) -> str:
        with llmmon.span("retrieve", k=3) as block:
            block.output = ["doc1"]
            child()
        return child()

    assert root("q") == "c"
    by_name = {s.name: s for s in memory.spans}
    assert len(memory.spans) == 4
    top = by_name["root"]
    assert (top.user_id, top.session_id, top.tags, top.attributes) == (
        "u-q",
        "s1",
        ["a", "b"],
        {"team": "support"},
    )
    retrieve = by_name["retrieve"]
    assert retrieve.parent_span_id == top.span_id and retrieve.attributes == {"k": 3}
    children = memory.by_name("child")
    assert children[0].parent_span_id == retrieve.span_id
    assert children[1].parent_span_id == top.span_id
    assert {s.trace_id for s in memory.spans} == {top.trace_id}
    assert all(s.user_id == "u-q" for s in memory.spans)
    assert children[0].attributes == {"seen": True}
    assert llmmon.current_span() is None


def test_trace_user_id_callable_that_raises_is_ignored(memory: InMemoryRecorder) -> None:
    @llmmon.trace(user_id=lambda x: x.missing)
    def f(x: int) -> int:
        return x

    assert f(3) == 3
    assert memory.spans[0].user_id is None


def test_trace_methods_skip_self_and_support_classmethods(memory: InMemoryRecorder) -> None:
    class Bot:
        prefix = ">"

        @llmmon.trace
        def reply(self, text: str) -> str:
            return self.prefix + text

        @llmmon.trace
        @classmethod
        def make(cls, n: int) -> int:
            return n

        @llmmon.trace
        @staticmethod
        def helper(n: int) -> int:
            return n + 1

    assert Bot().reply("hi") == ">hi"
    assert Bot.make(2) == 2
    assert Bot.helper(2) == 3
    assert [s.input for s in memory.spans] == [{"text": "hi"}, {"n": 2}, {"n": 2}]
    assert memory.spans[0].name == "test_trace_methods_skip_self_and_support_classmethods.<locals>.Bot.reply"


def test_trace_capture_off_records_no_io(memory: InMemoryRecorder) -> None:
    @llmmon.trace(capture_input=False, capture_output=False)
    def f(x: int) -> int:
        return x

    f(1)
    assert memory.spans[0].input is None and memory.spans[0].output is None


async def test_trace_async_function_and_tasks_keep_parents(memory: InMemoryRecorder) -> None:
    @llmmon.trace(name="leaf")
    async def leaf(i: int) -> int:
        await asyncio.sleep(0)
        return i

    @llmmon.trace(name="fanout")
    async def fanout(n: int) -> list[int]:
        return list(await asyncio.gather(*(leaf(i) for i in range(n))))

    assert await fanout(5) == [0, 1, 2, 3, 4]
    (root,) = memory.by_name("fanout")
    leaves = memory.by_name("leaf")
    assert len(leaves) == 5 and all(s.parent_span_id == root.span_id for s in leaves)
    assert sorted(s.output for s in leaves) == [0, 1, 2, 3, 4]


async def test_trace_async_exception_and_cancellation(memory: InMemoryRecorder) -> None:
    @llmmon.trace(name="boom")
    async def boom() -> None:
        raise KeyError("k")

    @llmmon.trace(name="slow")
    async def slow() -> None:
        await asyncio.sleep(10)

    with pytest.raises(KeyError):
        await boom()
    task = asyncio.create_task(slow())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert memory.by_name("boom")[0].status == "error"
    assert memory.by_name("slow")[0].status == "cancelled"


def test_trace_generator_records_ttft_and_assembled_output(memory: InMemoryRecorder) -> None:
    @llmmon.trace(name="inner")
    def inner() -> str:
        return "x"

    @llmmon.trace(name="stream")
    def stream(n: int) -> Iterator[str]:
        for i in range(n):
            inner()
            yield f"t{i} "
        return

    seen: list[str] = []
    for chunk in stream(3):
        assert llmmon.current_span() is None  # the consumer is not inside the stream's span
        seen.append(chunk)
    assert seen == ["t0 ", "t1 ", "t2 "]
    (span,) = memory.by_name("stream")
    assert span.output == "t0 t1 t2 "
    assert span.ttft_ms is not None and span.latency_ms is not None and span.ttft_ms <= span.latency_ms
    assert all(s.parent_span_id == span.span_id for s in memory.by_name("inner"))


def test_trace_generator_abandoned_half_way_ends_span_as_cancelled(memory: InMemoryRecorder) -> None:
    cleaned: list[bool] = []

    @llmmon.trace(name="stream")
    def stream() -> Iterator[int]:
        try:
            yield from range(100)
        finally:
            cleaned.append(True)

    for value in stream():
        if value == 2:
            break
    (span,) = memory.by_name("stream")
    assert span.status == "cancelled"
    assert span.output == [0, 1, 2]
    assert cleaned == [True]
    assert span.perf_end_ns is not None


def test_trace_generator_forwards_send_throw_and_errors(memory: InMemoryRecorder) -> None:
    @llmmon.trace(name="echo")
    def echo() -> Iterator[Any]:
        received = None
        while True:
            try:
                received = yield received
            except KeyError:
                received = "recovered"

    gen = echo()
    assert next(gen) is None
    assert gen.send(5) == 5
    assert gen.throw(KeyError("x")) == "recovered"
    gen.close()

    @llmmon.trace(name="bad")
    def bad() -> Iterator[int]:
        yield 1
        raise RuntimeError("mid-stream")

    with pytest.raises(RuntimeError, match="mid-stream"):
        list(bad())
    assert memory.by_name("echo")[0].status == "cancelled"
    bad_span = memory.by_name("bad")[0]
    assert (bad_span.status, bad_span.output) == ("error", [1])


async def test_trace_async_generator_stream_and_early_close(memory: InMemoryRecorder) -> None:
    @llmmon.trace(name="astream")
    async def astream(n: int) -> AsyncIterator[str]:
        for i in range(n):
            await asyncio.sleep(0)
            current = llmmon.current_span()
            assert current is not None and current.name == "astream"
            yield str(i)

    assert [c async for c in astream(3)] == ["0", "1", "2"]
    agen = astream(10)
    assert await agen.__anext__() == "0"
    await agen.aclose()
    complete, closed = memory.by_name("astream")
    assert (complete.output, complete.status) == ("012", "ok")
    assert complete.ttft_ms is not None
    assert (closed.output, closed.status) == ("0", "cancelled")


async def test_span_context_manager_async_records_errors(memory: InMemoryRecorder) -> None:
    with pytest.raises(ZeroDivisionError):
        async with llmmon.span("calc", kind="tool") as s:
            s.input = {"x": 1}
            _ = 1 / 0
    (span,) = memory.spans
    assert (span.kind, span.status, span.error_type, span.input) == (
        "tool",
        "error",
        "ZeroDivisionError",
        {"x": 1},
    )


def test_threads_with_copied_context_keep_parent(memory: InMemoryRecorder) -> None:
    @llmmon.trace(name="work")
    def work() -> None:
        pass

    @llmmon.trace(name="parent")
    def parent() -> None:
        threads = [threading.Thread(target=contextvars.copy_context().run, args=(work,)) for _ in range(4)]
        plain = threading.Thread(target=work)
        for t in [*threads, plain]:
            t.start()
        for t in [*threads, plain]:
            t.join()

    parent()
    (root,) = memory.by_name("parent")
    parents = sorted((s.parent_span_id or "") for s in memory.by_name("work"))
    assert parents == ["", root.span_id, root.span_id, root.span_id, root.span_id]


def test_low_level_span_functions(memory: InMemoryRecorder) -> None:
    outer = new_span("llm-call", kind="llm")
    assert outer is not None
    token = activate(outer)
    inner = new_span("parse")
    assert inner is not None and inner.parent_span_id == outer.span_id and inner.trace_id == outer.trace_id
    finish_span(inner)
    deactivate(token)
    deactivate(token)  # a second reset is ignored, not raised
    assert llmmon.current_span() is None
    outer.set_usage(input_tokens=3, output_tokens=4)
    finish_span(outer)
    finish_span(outer)  # twice is harmless for the caller
    assert [s.name for s in memory.spans][:2] == ["parse", "llm-call"]
    assert outer.perf_end_ns is not None


def test_disabled_switch_records_nothing() -> None:
    recorder = InMemoryRecorder()
    llmmon.configure(recorder=recorder, enabled=False)
    try:

        @llmmon.trace
        def f(x: int) -> int:
            return x

        def gen() -> Iterator[int]:
            yield 1

        traced_gen = llmmon.trace(gen)
        assert f(2) == 2 and list(traced_gen()) == [1]
        with llmmon.span("block") as block:
            block.set_attribute("k", 1)  # a detached span still accepts attributes
        assert new_span("x") is None
        assert recorder.spans == []
    finally:
        llmmon.shutdown()


def test_sampling_is_per_trace() -> None:
    recorder = InMemoryRecorder()
    llmmon.configure(recorder=recorder, sample_rate=0.5)
    try:

        @llmmon.trace(name="child")
        def child() -> None:
            with llmmon.span("block"):
                pass

        @llmmon.trace(name="root")
        def root() -> None:
            child()
            child()

        for _ in range(400):
            root()
        roots = recorder.by_name("root")
        assert 120 < len(roots) < 280
        kept = {s.trace_id for s in roots}
        # Whole traces are kept or dropped: 2 children and 2 blocks for every kept root, none orphaned.
        assert len(recorder.by_name("child")) == 2 * len(roots)
        assert len(recorder.by_name("block")) == 2 * len(roots)
        assert {s.trace_id for s in recorder.spans} == kept
    finally:
        llmmon.shutdown()


def test_sample_rate_zero_records_nothing() -> None:
    recorder = InMemoryRecorder()
    llmmon.configure(recorder=recorder, sample_rate=0.0)
    try:
        traced = llmmon.trace(lambda: 1)
        assert [traced() for _ in range(10)] == [1] * 10
        assert recorder.spans == []
    finally:
        llmmon.shutdown()
