"""``wrap_openai(client)``: every ``chat.completions.create`` / ``responses.create`` call on that
client instance becomes a child span of kind ``"llm"``.

Usage::

    client = llmmon.wrap_openai(OpenAI())          # or AsyncOpenAI(); returns the same object
    client.chat.completions.create(model="gpt-4o-mini", messages=[...])

Only the instance you pass is changed (its two ``create`` methods are replaced by tracing
wrappers); nothing is patched at import time, and clients made later with
``client.with_options(...)`` / ``client.copy()`` are not wrapped.

What a span records: the model (the response's, e.g. ``gpt-4o-mini-2024-07-18``), the
request parameters (without ``messages``/``input``, and without ``extra_headers``,
``extra_query``, ``extra_body`` and ``timeout``, which may carry secrets), the messages or
input as the span input, the response text as the output, usage (prompt/input, completion/
output, cached and reasoning tokens), latency and, for streams, time to first token. An API
error is recorded and re-raised unchanged. When no usage comes back the span's usage stays
empty and the writer counts tokens with tiktoken, flagging ``tokens_estimated``.

Streams: for Chat Completions llmmon asks for usage with ``stream_options={"include_usage":
True}`` when the caller did not set ``include_usage``. The caller still receives exactly the
chunks it would have received without llmmon: the extra usage-only chunk (empty ``choices``)
that this request produces is consumed by llmmon and *not* passed on, because code written for
the default stream often does ``chunk.choices[0]`` and would break on it (Langfuse turned the
same default on and reverted it, and LangChain dropped it for the same reason). One visible
trace remains: every chunk's ``usage`` attribute is ``None`` either way, but pydantic's
``model_fields_set`` includes ``usage`` because the API then sends ``"usage": null``. A caller
that sets ``include_usage`` itself gets every chunk as usual. The stream object the caller
gets is a proxy (``isinstance(s, openai.Stream)`` still holds) that ends the span when the
stream is exhausted, closed, left through ``with``, or garbage-collected half way.
``with_raw_response`` / ``with_streaming_response`` calls are traced with their request only.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any, TypeVar

from llmmon.tracing.context import finish_span, new_span
from llmmon.tracing.span import SpanRecord

__all__ = ["wrap_openai"]

logger = logging.getLogger("llmmon")

ClientT = TypeVar("ClientT")

_WRAPPED_MARK = "_llmmon_wrapped"
# Request options that never go into a span: they are transport details that may hold secrets.
_SECRET_OR_TRANSPORT = frozenset({"extra_headers", "extra_query", "extra_body", "timeout"})
_CHAT = "chat.completions.create"
_RESPONSES = "responses.create"


def wrap_openai(client: ClientT) -> ClientT:
    """Trace ``chat.completions.create`` and ``responses.create`` of this ``OpenAI``/``AsyncOpenAI``.

    Returns the same client object (wrapping twice is a no-op).
    """
    import openai

    if getattr(client, _WRAPPED_MARK, False):
        return client
    if not isinstance(client, openai.OpenAI | openai.AsyncOpenAI):
        raise TypeError(
            f"wrap_openai expects an openai.OpenAI or openai.AsyncOpenAI client, got {type(client)!r}"
        )
    is_async = isinstance(client, openai.AsyncOpenAI)
    provider = _provider_of(client)
    wrap = _wrap_async if is_async else _wrap_sync
    completions = client.chat.completions
    completions.create = wrap(completions.create, _CHAT, provider)  # type: ignore[method-assign]
    responses = client.responses
    responses.create = wrap(responses.create, _RESPONSES, provider)  # type: ignore[method-assign]
    setattr(client, _WRAPPED_MARK, True)
    return client


def _provider_of(client: Any) -> str:
    import openai

    if isinstance(client, openai.AzureOpenAI | openai.AsyncAzureOpenAI):
        return "azure"
    host = str(getattr(getattr(client, "base_url", None), "host", "") or "")
    return "openai" if host.endswith("openai.com") else "openai-compatible"


# -- the wrappers ------------------------------------------------------------------------


def _wrap_sync(create: Callable[..., Any], operation: str, provider: str) -> Callable[..., Any]:
    @functools.wraps(create)
    def traced_create(*args: Any, **kwargs: Any) -> Any:
        span = new_span(f"openai.{operation}", kind="llm")
        if span is None:
            return create(*args, **kwargs)
        kwargs, hide_usage = _prepare(span, operation, provider, kwargs)
        try:
            result = create(*args, **kwargs)
        except BaseException as exc:
            span.record_error(exc)
            finish_span(span)
            raise
        return _handle_result(span, operation, result, hide_usage, is_async=False)

    return traced_create


def _wrap_async(create: Callable[..., Any], operation: str, provider: str) -> Callable[..., Any]:
    @functools.wraps(create)
    async def traced_create(*args: Any, **kwargs: Any) -> Any:
        span = new_span(f"openai.{operation}", kind="llm")
        if span is None:
            return await create(*args, **kwargs)
        kwargs, hide_usage = _prepare(span, operation, provider, kwargs)
        try:
            result = await create(*args, **kwargs)
        except BaseException as exc:
            span.record_error(exc)
            finish_span(span)
            raise
        return _handle_result(span, operation, result, hide_usage, is_async=True)

    return traced_create


def _prepare(
    span: SpanRecord, operation: str, provider: str, kwargs: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Record the request on ``span``; ask for stream usage if needed. Returns (kwargs, hide_usage_chunk)."""
    hide_usage = False
    try:
        _record_request(span, operation, provider, kwargs)
        if operation == _CHAT and kwargs.get("stream") is True:
            options = kwargs.get("stream_options")
            options = options if isinstance(options, dict) else {}
            if "include_usage" not in options:
                kwargs = {**kwargs, "stream_options": {**options, "include_usage": True}}
                hide_usage = True
        span.set_attribute("stream", kwargs.get("stream") is True)
    except Exception:
        logger.warning("llmmon: could not record an OpenAI request", exc_info=True)
    return kwargs, hide_usage


def _handle_result(span: SpanRecord, operation: str, result: Any, hide_usage: bool, *, is_async: bool) -> Any:
    import openai

    if isinstance(result, openai.Stream | openai.AsyncStream):
        observer = (
            _ChatStreamObserver(span, hide_usage) if operation == _CHAT else _ResponsesStreamObserver(span)
        )
        return _TracedAsyncStream(result, observer) if is_async else _TracedStream(result, observer)
    try:
        if operation == _CHAT:
            _record_chat_completion(span, result)
        else:
            _record_response(span, result)
    except Exception:
        logger.warning("llmmon: could not record an OpenAI response", exc_info=True)
    finish_span(span)
    return result


# -- request and response recording ----------------------------------------------------


def _is_given(value: Any) -> bool:
    # openai's NOT_GIVEN / omit sentinels mean "parameter absent".
    return type(value).__name__ not in ("NotGiven", "Omit")


def _record_request(span: SpanRecord, operation: str, provider: str, kwargs: dict[str, Any]) -> None:
    span.provider = provider
    model = kwargs.get("model")
    if isinstance(model, str):
        span.model = model
    if operation == _CHAT:
        span.input = {"messages": kwargs.get("messages")}
        io_keys = {"messages"}
    else:
        io_keys = {"input", "instructions"}
        span.input = {
            key: kwargs[key] for key in ("instructions", "input") if key in kwargs and _is_given(kwargs[key])
        }
    params = {
        key: value
        for key, value in kwargs.items()
        if key not in io_keys and key not in _SECRET_OR_TRANSPORT and _is_given(value)
    }
    span.set_attributes({"openai.operation": operation, "request": params})


def _usage_value(obj: Any, *path: str) -> int | None:
    for name in path:
        if obj is None:
            return None
        obj = getattr(obj, name, None)
    return obj if isinstance(obj, int) else None


def _record_chat_usage(span: SpanRecord, usage: Any) -> None:
    if usage is None:
        return
    span.set_usage(
        input_tokens=_usage_value(usage, "prompt_tokens"),
        output_tokens=_usage_value(usage, "completion_tokens"),
        total_tokens=_usage_value(usage, "total_tokens"),
        cached_tokens=_usage_value(usage, "prompt_tokens_details", "cached_tokens"),
        reasoning_tokens=_usage_value(usage, "completion_tokens_details", "reasoning_tokens"),
    )


def _record_responses_usage(span: SpanRecord, usage: Any) -> None:
    if usage is None:
        return
    span.set_usage(
        input_tokens=_usage_value(usage, "input_tokens"),
        output_tokens=_usage_value(usage, "output_tokens"),
        total_tokens=_usage_value(usage, "total_tokens"),
        cached_tokens=_usage_value(usage, "input_tokens_details", "cached_tokens"),
        reasoning_tokens=_usage_value(usage, "output_tokens_details", "reasoning_tokens"),
    )


def _message_output(content: str | None, tool_calls: list[dict[str, Any]]) -> Any:
    if not tool_calls:
        return content
    return {"content": content, "tool_calls": tool_calls}


def _record_chat_completion(span: SpanRecord, completion: Any) -> None:
    choices = getattr(completion, "choices", None)
    if choices is None:  # e.g. a with_raw_response call: leave the body unread
        return
    if isinstance(getattr(completion, "model", None), str):
        span.model = completion.model
    outputs = []
    for choice in choices:
        message = choice.message
        tool_calls = [
            {"id": call.id, "name": call.function.name, "arguments": call.function.arguments}
            for call in (message.tool_calls or [])
            if getattr(call, "function", None) is not None
        ]
        outputs.append(_message_output(message.content, tool_calls))
    span.output = outputs[0] if len(outputs) == 1 else outputs
    span.set_attributes(
        {"response_id": completion.id, "finish_reasons": [choice.finish_reason for choice in choices]}
    )
    _record_chat_usage(span, completion.usage)


def _record_response(span: SpanRecord, response: Any) -> None:
    if not hasattr(response, "output"):
        return
    if isinstance(getattr(response, "model", None), str):
        span.model = response.model
    span.output = response.output_text
    span.set_attributes({"response_id": response.id, "response_status": response.status})
    _record_responses_usage(span, response.usage)
    if response.status == "failed" and response.error is not None:
        span.status = "error"
        span.error_type = "ResponseFailed"
        span.error_message = str(getattr(response.error, "message", response.error))


# -- streams ---------------------------------------------------------------------------


class _ChatStreamObserver:
    """Assembles a Chat Completions stream into the span; decides which chunks the caller sees."""

    def __init__(self, span: SpanRecord, hide_usage_chunk: bool) -> None:
        self.span = span
        self.hide_usage_chunk = hide_usage_chunk
        self.finished = False
        self._texts: dict[int, list[str]] = {}
        self._tool_calls: dict[int, dict[int, dict[str, Any]]] = {}
        self._finish_reasons: dict[int, str] = {}
        self._response_id: str | None = None

    def observe(self, chunk: Any) -> bool:
        """Record one chunk; True when the caller should receive it."""
        try:
            return self._observe(chunk)
        except Exception:
            logger.warning("llmmon: could not record an OpenAI stream chunk", exc_info=True)
            return True

    def _observe(self, chunk: Any) -> bool:
        if isinstance(getattr(chunk, "model", None), str) and chunk.model:
            self.span.model = chunk.model
        self._response_id = self._response_id or getattr(chunk, "id", None)
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            _record_chat_usage(self.span, usage)
        choices = getattr(chunk, "choices", None) or []
        for choice in choices:
            delta = choice.delta
            if delta is not None and (delta.content or delta.tool_calls):
                self.span.mark_first_chunk(perf_counter_ns())
            if delta is not None and delta.content:
                self._texts.setdefault(choice.index, []).append(delta.content)
            for call in (delta.tool_calls if delta is not None else None) or []:
                slot = self._tool_calls.setdefault(choice.index, {}).setdefault(
                    call.index, {"id": None, "name": "", "arguments": ""}
                )
                slot["id"] = call.id or slot["id"]
                if call.function is not None:
                    slot["name"] += call.function.name or ""
                    slot["arguments"] += call.function.arguments or ""
            if choice.finish_reason:
                self._finish_reasons[choice.index] = choice.finish_reason
        return not (self.hide_usage_chunk and not choices and usage is not None)

    def finish(self, *, error: BaseException | None = None, completed: bool) -> None:
        """End the span once, with what has been assembled so far."""
        if self.finished:
            return
        self.finished = True
        try:
            indexes = sorted(set(self._texts) | set(self._tool_calls))
            outputs = [
                _message_output(
                    "".join(self._texts[i]) if i in self._texts else None,
                    list(self._tool_calls.get(i, {}).values()),
                )
                for i in indexes
            ]
            self.span.output = outputs[0] if len(outputs) == 1 else (outputs or None)
            self.span.set_attributes(
                {
                    "response_id": self._response_id,
                    "finish_reasons": [self._finish_reasons.get(i) for i in indexes],
                    "stream_completed": completed,
                }
            )
            if error is not None:
                self.span.record_error(error)
        except Exception:
            logger.warning("llmmon: could not record an OpenAI stream", exc_info=True)
        finish_span(self.span)


class _ResponsesStreamObserver:
    """Assembles a Responses API event stream into the span (every event reaches the caller)."""

    def __init__(self, span: SpanRecord) -> None:
        self.span = span
        self.finished = False
        self._texts: list[str] = []
        self._final: Any = None

    def observe(self, event: Any) -> bool:
        """Record one event; always True (nothing is hidden from the caller)."""
        try:
            kind = getattr(event, "type", "")
            if kind == "response.output_text.delta":
                self.span.mark_first_chunk(perf_counter_ns())
                self._texts.append(event.delta)
            elif kind in ("response.completed", "response.incomplete", "response.failed"):
                self._final = event.response
        except Exception:
            logger.warning("llmmon: could not record a Responses stream event", exc_info=True)
        return True

    def finish(self, *, error: BaseException | None = None, completed: bool) -> None:
        """End the span once."""
        if self.finished:
            return
        self.finished = True
        try:
            if self._final is not None:
                _record_response(self.span, self._final)
            else:
                self.span.output = "".join(self._texts) if self._texts else None
            self.span.set_attribute("stream_completed", completed)
            if error is not None:
                self.span.record_error(error)
        except Exception:
            logger.warning("llmmon: could not record a Responses stream", exc_info=True)
        finish_span(self.span)


_Observer = _ChatStreamObserver | _ResponsesStreamObserver


class _TracedStream:
    """Proxy of an ``openai.Stream`` that feeds the observer and ends the span exactly once."""

    def __init__(self, stream: Any, observer: _Observer) -> None:
        self._llmmon_stream = stream
        self._llmmon_observer = observer

    @property  # type: ignore[misc]
    def __class__(self) -> type:  # isinstance(proxy, openai.Stream) stays true
        return type(self._llmmon_stream)

    def __iter__(self) -> _TracedStream:
        return self

    def __next__(self) -> Any:
        observer = self._llmmon_observer
        while True:
            try:
                item = next(self._llmmon_stream)
            except StopIteration:
                observer.finish(completed=True)
                raise
            except BaseException as exc:
                observer.finish(error=exc, completed=False)
                raise
            if observer.observe(item):
                return item

    def __enter__(self) -> _TracedStream:
        self._llmmon_stream.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self._llmmon_stream.__exit__(*exc_info)
        finally:
            self._llmmon_observer.finish(completed=False)

    def close(self) -> None:
        """Close the underlying stream and end the span with what was received."""
        try:
            self._llmmon_stream.close()
        finally:
            self._llmmon_observer.finish(completed=False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llmmon_stream, name)

    def __del__(self) -> None:
        # A stream dropped half way without close(): still record what it produced.
        observer = self.__dict__.get("_llmmon_observer")
        if observer is not None and not observer.finished:
            observer.finish(completed=False)


class _TracedAsyncStream:
    """Proxy of an ``openai.AsyncStream``; same contract as ``_TracedStream``."""

    def __init__(self, stream: Any, observer: _Observer) -> None:
        self._llmmon_stream = stream
        self._llmmon_observer = observer

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return type(self._llmmon_stream)

    def __aiter__(self) -> _TracedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        observer = self._llmmon_observer
        while True:
            try:
                item = await self._llmmon_stream.__anext__()
            except StopAsyncIteration:
                observer.finish(completed=True)
                raise
            except BaseException as exc:
                observer.finish(error=exc, completed=False)
                raise
            if observer.observe(item):
                return item

    async def __aenter__(self) -> _TracedAsyncStream:
        await self._llmmon_stream.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self._llmmon_stream.__aexit__(*exc_info)
        finally:
            self._llmmon_observer.finish(completed=False)

    async def close(self) -> None:
        """Close the underlying stream and end the span with what was received."""
        try:
            await self._llmmon_stream.close()
        finally:
            self._llmmon_observer.finish(completed=False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llmmon_stream, name)

    def __del__(self) -> None:
        observer = self.__dict__.get("_llmmon_observer")
        if observer is not None and not observer.finished:
            observer.finish(completed=False)
