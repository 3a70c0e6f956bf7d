"""What a stored trace asked and answered: question, answer, app context, errors, prompt versions, models.

Shared by ``llmmon check TRACE_ID`` and the evaluation worker, which reads many traces with one
query and builds these from the span rows (:func:`inputs_from_spans`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from llmmon.errors import ConfigError

__all__ = ["TraceInputs", "inputs_from_spans", "pick_text", "trace_inputs"]

_QUESTION_KEYS = ("question", "query", "input", "message", "prompt", "user_message")
_ANSWER_KEYS = ("answer", "output", "content", "text", "response")
_CONTEXT_KEYS = ("context", "retrieved_context", "documents", "passages")


@dataclass(frozen=True)
class TraceInputs:
    """The parts of one trace that the fact checker, the judge and the sampler need."""

    trace_id: str
    start_time: datetime
    question: str | None
    answer: str | None
    context: list[str] | None
    errored: bool
    prompt_versions: tuple[tuple[str, str], ...] = ()
    models: tuple[str, ...] = ()


def _loads(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def pick_text(value: Any, keys: Sequence[str]) -> str | None:
    """A string, the first string under one of ``keys``, or the only string value of a dict."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in keys:
            if isinstance(value.get(key), str):
                return str(value[key])
        strings = [v for v in value.values() if isinstance(v, str)]
        return strings[0] if len(strings) == 1 else None
    return None


def _texts(value: Any) -> list[str]:
    """Passage texts from a retriever output: strings, or dicts with text/page_content/content."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        for key in ("text", "page_content", "content"):
            if isinstance(value.get(key), str):
                return [value[key]]
        return [t for key in _CONTEXT_KEYS for t in _texts(value.get(key))]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    return []


def inputs_from_spans(spans: Iterable[Any]) -> TraceInputs:
    """Build :class:`TraceInputs` from one trace's span rows (anything with Span's attributes).

    The root is the span without a parent (the earliest, if the trace has several); context is
    the root's ``context``-like attributes plus every retriever span's output.
    """
    spans = sorted(spans, key=lambda s: (s.start_time, s.span_id))
    if not spans:
        raise ConfigError("a trace needs at least one span")
    roots = [s for s in spans if s.parent_span_id is None] or spans[:1]
    root = roots[0]
    context: list[str] = []
    attributes = _loads(root.attributes)
    if isinstance(attributes, dict):
        context.extend(t for key in _CONTEXT_KEYS for t in _texts(attributes.get(key)))
    versions: dict[tuple[str, str], None] = {}
    models: dict[str, None] = {}
    for span in spans:
        if span.kind == "retriever":
            context.extend(_texts(_loads(span.output)))
        if span.prompt_name and span.prompt_version and not span.is_eval:
            versions[(span.prompt_name, span.prompt_version)] = None
        if span.model and not span.is_eval:
            models[span.model] = None
    return TraceInputs(
        trace_id=root.trace_id,
        start_time=root.start_time,
        question=pick_text(_loads(root.input), _QUESTION_KEYS),
        answer=pick_text(_loads(root.output), _ANSWER_KEYS),
        context=context or None,
        errored=any(s.status == "error" for s in spans),
        prompt_versions=tuple(versions),
        models=tuple(models),
    )


def trace_inputs(engine: Engine, trace_id: str) -> tuple[str, str | None, str, list[str] | None]:
    """(resolved trace id, question, answer, app context or None) of a stored trace.

    ``trace_id`` may be a unique prefix; ``ConfigError`` when the root span has no text output.
    """
    from llmmon.storage.repo import get_trace

    nodes = get_trace(engine, trace_id)
    spans = []
    stack = list(nodes)
    while stack:
        node = stack.pop()
        spans.append(node.span)
        stack.extend(node.children)
    found = inputs_from_spans(spans)
    if found.answer is None:
        raise ConfigError(f"trace {found.trace_id}: the root span has no text output to check")
    return found.trace_id, found.question, found.answer, found.context
