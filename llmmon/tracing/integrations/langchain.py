"""``LlmmonCallbackHandler``: LangChain runs (chains, LLMs, chat models, retrievers, tools) as
nested llmmon spans.

Usage::

    from llmmon.integrations.langchain import LlmmonCallbackHandler

    handler = LlmmonCallbackHandler()
    chain.invoke({"question": q}, config={"callbacks": [handler]})

Each run becomes a span whose parent is the span of its ``parent_run_id``; a run without a
known parent nests under the current llmmon span (``@llmmon.trace`` / ``llmmon.span``), or
starts a new trace. Kinds: ``chain``, ``llm`` (LLMs and chat models), ``retriever``, ``tool``.
LLM spans record the model name, the messages or prompts, the generated text, and token usage
from ``AIMessage.usage_metadata`` or ``llm_output["token_usage"]``; when neither exists the
writer estimates tokens and flags them. Errors are recorded on the run's span (LangChain itself
re-raises them).

One handler can serve many concurrent runs: LangChain calls it from worker threads
(``batch``) and from the event loop (``ainvoke``); its run table is guarded by a lock. It is
``run_inline`` because it does no I/O -- recording only hands the span to llmmon's queue --
so async runs do not pay for a thread hop per callback. The handler does not make LangChain
spans "current" for code running inside the run (callbacks cannot reset context variables in
the run's own context), so an ``@llmmon.trace`` function called by a LangChain tool nests
under the enclosing llmmon span rather than under the tool's span.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from time import perf_counter_ns
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

from llmmon.tracing.context import activate, deactivate, finish_span, new_span
from llmmon.tracing.span import SpanRecord

__all__ = ["LlmmonCallbackHandler"]

logger = logging.getLogger("llmmon")

_ROLE_BY_TYPE = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "function",
}


class LlmmonCallbackHandler(BaseCallbackHandler):
    """Records LangChain runs as llmmon spans (see the module docstring)."""

    run_inline = True
    raise_error = False

    def __init__(self) -> None:
        super().__init__()
        self._runs: dict[UUID, SpanRecord] = {}
        # Runs whose span was not recorded (tracing off, trace sampled out): their children
        # must be skipped too rather than start traces of their own.
        self._skipped: set[UUID] = set()
        self._lock = threading.Lock()

    # -- bookkeeping -------------------------------------------------------------------

    def _start(
        self,
        *,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        kind: str,
        input: Any,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
    ) -> SpanRecord | None:
        with self._lock:
            parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
            parent_skipped = parent_run_id is not None and parent_run_id in self._skipped
        if parent_skipped:
            span = None
        elif parent is not None:
            token = activate(parent)
            try:
                span = new_span(name, kind=kind)
            finally:
                deactivate(token)
        else:
            span = new_span(name, kind=kind)
        if span is None:
            with self._lock:
                self._skipped.add(run_id)
            return None
        try:
            span.input = input
            if tags:
                span.add_tags(*tags)
            span.set_attribute("langchain.run_id", str(run_id))
            if metadata:
                span.set_attribute("langchain.metadata", dict(metadata))
        except Exception:
            logger.warning("llmmon: could not record LangChain run %r", name, exc_info=True)
        with self._lock:
            self._runs[run_id] = span
        return span

    def _end(
        self, run_id: UUID, *, output: Any = None, error: BaseException | None = None
    ) -> SpanRecord | None:
        with self._lock:
            span = self._runs.pop(run_id, None)
            self._skipped.discard(run_id)
        if span is None:
            return None
        span.output = output
        if error is not None:
            span.record_error(error)
        finish_span(span)
        return span

    def _span(self, run_id: UUID) -> SpanRecord | None:
        with self._lock:
            return self._runs.get(run_id)

    @property
    def open_runs(self) -> int:
        """Runs started and not yet ended (0 once every run has finished)."""
        with self._lock:
            return len(self._runs) + len(self._skipped)

    # -- chains --------------------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a ``chain`` span."""
        name = _run_name(serialized, kwargs, "chain")
        self._start(
            run_id=run_id,
            parent_run_id=parent_run_id,
            name=name,
            kind="chain",
            input=_plain(inputs),
            tags=tags,
            metadata=metadata,
        )

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End a ``chain`` span with its outputs."""
        self._end(run_id, output=_plain(outputs))

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End a ``chain`` span as failed."""
        self._end(run_id, error=error)

    # -- LLMs and chat models --------------------------------------------------------------

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start an ``llm`` span for a text-completion model."""
        span = self._start(
            run_id=run_id,
            parent_run_id=parent_run_id,
            name=_run_name(serialized, kwargs, "llm"),
            kind="llm",
            input=prompts[0] if len(prompts) == 1 else list(prompts),
            tags=tags,
            metadata=metadata,
        )
        if span is not None:
            _record_model(span, metadata, kwargs.get("invocation_params"))

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start an ``llm`` span for a chat model; messages are stored in OpenAI's role/content shape."""
        batches = [[_message_dict(message) for message in batch] for batch in messages]
        span = self._start(
            run_id=run_id,
            parent_run_id=parent_run_id,
            name=_run_name(serialized, kwargs, "chat_model"),
            kind="llm",
            input={"messages": batches[0]} if len(batches) == 1 else {"message_batches": batches},
            tags=tags,
            metadata=metadata,
        )
        if span is not None:
            _record_model(span, metadata, kwargs.get("invocation_params"))

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Streaming: remember when the first token arrived."""
        span = self._span(run_id)
        if span is not None:
            span.mark_first_chunk(perf_counter_ns())

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End an ``llm`` span with the generated text, model name and token usage."""
        span = self._span(run_id)
        output = None
        if span is not None:
            try:
                output = _record_llm_result(span, response)
            except Exception:
                logger.warning("llmmon: could not record a LangChain LLM result", exc_info=True)
        self._end(run_id, output=output)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End an ``llm`` span as failed."""
        self._end(run_id, error=error)

    # -- retrievers and tools ------------------------------------------------------------

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a ``retriever`` span."""
        self._start(
            run_id=run_id,
            parent_run_id=parent_run_id,
            name=_run_name(serialized, kwargs, "retriever"),
            kind="retriever",
            input=query,
            tags=tags,
            metadata=metadata,
        )

    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        """End a ``retriever`` span with the documents found."""
        self._end(run_id, output=[_plain(document) for document in documents])

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End a ``retriever`` span as failed."""
        self._end(run_id, error=error)

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Start a ``tool`` span."""
        self._start(
            run_id=run_id,
            parent_run_id=parent_run_id,
            name=_run_name(serialized, kwargs, "tool"),
            kind="tool",
            input=_plain(inputs) if inputs is not None else input_str,
            tags=tags,
            metadata=metadata,
        )

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End a ``tool`` span with its output."""
        self._end(run_id, output=_plain(output))

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End a ``tool`` span as failed."""
        self._end(run_id, error=error)


# -- value conversion (shallow: the writer serialises the rest) --------------------------


def _run_name(serialized: dict[str, Any] | None, kwargs: dict[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if serialized:
        if isinstance(serialized.get("name"), str):
            return str(serialized["name"])
        ids = serialized.get("id")
        if isinstance(ids, list) and ids:
            return str(ids[-1])
    return default


def _message_dict(message: Any) -> dict[str, Any]:
    role = _ROLE_BY_TYPE.get(getattr(message, "type", ""), getattr(message, "type", "unknown"))
    result: dict[str, Any] = {"role": role, "content": getattr(message, "content", message)}
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        result["tool_calls"] = tool_calls
    return result


def _plain(value: Any) -> Any:
    """Messages, documents and prompt values as plain dicts/lists; other values unchanged."""
    if hasattr(value, "page_content"):
        return {"page_content": value.page_content, "metadata": getattr(value, "metadata", None)}
    if hasattr(value, "to_messages") and callable(value.to_messages):
        return {"messages": [_message_dict(message) for message in value.to_messages()]}
    if hasattr(value, "content") and hasattr(value, "type"):
        return _message_dict(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _record_model(span: SpanRecord, metadata: dict[str, Any] | None, params: Any) -> None:
    metadata = metadata or {}
    params = params if isinstance(params, dict) else {}
    model = metadata.get("ls_model_name") or params.get("model") or params.get("model_name")
    if isinstance(model, str) and model:
        span.model = model
    provider = metadata.get("ls_provider") or params.get("_type")
    if isinstance(provider, str) and provider:
        span.provider = provider
    if params:
        span.set_attribute(
            "request", {key: value for key, value in params.items() if not key.startswith("_")}
        )


def _record_llm_result(span: SpanRecord, response: Any) -> Any:
    """Usage and model from an ``LLMResult``; returns the output to store."""
    generations = [generation for batch in (response.generations or []) for generation in batch]
    texts = []
    usage_totals: dict[str, int] = {}
    for generation in generations:
        message = getattr(generation, "message", None)
        texts.append(_generation_output(generation, message))
        usage = getattr(message, "usage_metadata", None) if message is not None else None
        if usage:
            _add_usage(usage_totals, usage)
        metadata = getattr(message, "response_metadata", None) or {}
        model = metadata.get("model_name") or metadata.get("model")
        if isinstance(model, str) and model:
            span.model = model
    llm_output = response.llm_output or {}
    if not usage_totals:
        token_usage = llm_output.get("token_usage") or llm_output.get("usage") or {}
        if isinstance(token_usage, dict):
            _add_openai_usage(usage_totals, token_usage)
    if isinstance(llm_output.get("model_name"), str):
        span.model = llm_output["model_name"]
    if usage_totals:
        span.set_usage(
            input_tokens=usage_totals.get("input_tokens"),
            output_tokens=usage_totals.get("output_tokens"),
            total_tokens=usage_totals.get("total_tokens"),
            cached_tokens=usage_totals.get("cached_tokens"),
            reasoning_tokens=usage_totals.get("reasoning_tokens"),
        )
    return texts[0] if len(texts) == 1 else texts


def _generation_output(generation: Any, message: Any) -> Any:
    if message is None:
        return generation.text
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        return {"content": message.content, "tool_calls": tool_calls}
    return message.content if isinstance(message.content, str) else generation.text


def _add(totals: dict[str, int], key: str, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        totals[key] = totals.get(key, 0) + value


def _add_usage(totals: dict[str, int], usage: Any) -> None:
    """LangChain's ``UsageMetadata`` (input/output/total, cache_read, reasoning)."""
    _add(totals, "input_tokens", usage.get("input_tokens"))
    _add(totals, "output_tokens", usage.get("output_tokens"))
    _add(totals, "total_tokens", usage.get("total_tokens"))
    _add(totals, "cached_tokens", (usage.get("input_token_details") or {}).get("cache_read"))
    _add(totals, "reasoning_tokens", (usage.get("output_token_details") or {}).get("reasoning"))


def _add_openai_usage(totals: dict[str, int], usage: dict[str, Any]) -> None:
    """``llm_output["token_usage"]`` as OpenAI-style providers report it."""
    _add(totals, "input_tokens", usage.get("prompt_tokens", usage.get("input_tokens")))
    _add(totals, "output_tokens", usage.get("completion_tokens", usage.get("output_tokens")))
    _add(totals, "total_tokens", usage.get("total_tokens"))
    _add(totals, "cached_tokens", (usage.get("prompt_tokens_details") or {}).get("cached_tokens"))
    _add(totals, "reasoning_tokens", (usage.get("completion_tokens_details") or {}).get("reasoning_tokens"))
