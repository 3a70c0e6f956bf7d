"""The current span (a ContextVar) and the low-level span functions integrations use.

``new_span`` / ``activate`` / ``deactivate`` / ``finish_span`` are the whole contract the
OpenAI and LangChain integrations build on; the decorator inlines the same steps for
speed. A ContextVar is copied into asyncio tasks and into threads started through
``contextvars.copy_context().run``, so children find their parent there too.

Head sampling is decided once per trace, at its root: a sampled-out root marks the
context (``SAMPLED_OUT``) so that every span under it is skipped as well.
"""

from __future__ import annotations

import contextvars
import logging
from random import random
from time import perf_counter_ns, time_ns

from llmmon.tracing import runtime as _runtime
from llmmon.tracing.ids import new_span_id, new_trace_id
from llmmon.tracing.span import SpanRecord

__all__ = [
    "CURRENT_SPAN",
    "PROMPT_STAMP",
    "SAMPLED_OUT",
    "activate",
    "current_span",
    "deactivate",
    "finish_span",
    "new_span",
    "stamp_prompt",
]

logger = logging.getLogger("llmmon")

CURRENT_SPAN: contextvars.ContextVar[SpanRecord | None] = contextvars.ContextVar("llmmon_span", default=None)
SAMPLED_OUT: contextvars.ContextVar[bool] = contextvars.ContextVar("llmmon_sampled_out", default=False)
# The prompt last rendered in a trace: (trace_id, name, version, hash). Spans started later in
# the same trace through ``new_span`` (LLM calls, LangChain runs) carry it too, so their tokens
# and cost can be grouped by prompt version. Keyed by trace id because a ContextVar set inside
# a traced function outlives that call; a stamp from an earlier trace is simply ignored.
PROMPT_STAMP: contextvars.ContextVar[tuple[str, str, str, str] | None] = contextvars.ContextVar(
    "llmmon_prompt_stamp", default=None
)


def current_span() -> SpanRecord | None:
    """The span of the innermost traced call or ``llmmon.span`` block, if any.

    Usage::

        span = llmmon.current_span()
        if span is not None:
            span.set_attribute("retrieved", len(docs))
    """
    return CURRENT_SPAN.get()


def is_sampled_out(sample_rate: float) -> bool:
    """Whether a new root span should be skipped: inside a sampled-out trace, or losing the draw."""
    return SAMPLED_OUT.get() or random() >= sample_rate


def new_span(name: str, *, kind: str = "span") -> SpanRecord | None:
    """Start a span: a child of the current span, or the root of a new trace.

    Returns None when tracing is disabled or the trace is sampled out. The span is not
    made current; call ``activate`` for that.
    """
    try:
        runtime = _runtime.STATE.runtime or _runtime.get_runtime()
        if not runtime.enabled:
            return None
        parent = CURRENT_SPAN.get()
        if parent is None:
            if runtime.sample_rate < 1.0 and is_sampled_out(runtime.sample_rate):
                return None
            return SpanRecord(
                span_id=new_span_id(),
                trace_id=new_trace_id(),
                parent_span_id=None,
                name=name,
                kind=kind,
                start_ns=time_ns(),
                perf_start_ns=perf_counter_ns(),
            )
        child = SpanRecord(
            span_id=new_span_id(),
            trace_id=parent.trace_id,
            parent_span_id=parent.span_id,
            name=name,
            kind=kind,
            start_ns=time_ns(),
            perf_start_ns=perf_counter_ns(),
        )
        stamp = PROMPT_STAMP.get()
        if stamp is not None and stamp[0] == parent.trace_id:
            child.set_prompt(stamp[1], stamp[2], stamp[3])
        return child
    except Exception:  # tracing must never break the traced code
        logger.warning("llmmon: could not start span %r", name, exc_info=True)
        return None


def stamp_prompt(name: str, version: str, content_hash: str) -> None:
    """Stamp a rendered prompt on the current span and on spans started after it in the trace."""
    span = CURRENT_SPAN.get()
    if span is None:
        return
    span.set_prompt(name, version, content_hash)
    PROMPT_STAMP.set((span.trace_id, name, version, content_hash))


def activate(span: SpanRecord) -> contextvars.Token[SpanRecord | None]:
    """Make ``span`` the current span; pass the token to ``deactivate`` when it ends."""
    return CURRENT_SPAN.set(span)


def deactivate(token: contextvars.Token[SpanRecord | None]) -> None:
    """Restore the span that was current before ``activate``; never raises."""
    try:
        CURRENT_SPAN.reset(token)
    except (ValueError, RuntimeError):
        # The token belongs to another context (e.g. a callback finished in another task):
        # nothing to restore there, and the caller must not see an error.
        logger.debug("llmmon: span token from another context ignored")


def finish_span(span: SpanRecord) -> None:
    """End ``span`` (if not ended yet) and hand it to the active recorder; never raises."""
    try:
        if span.perf_end_ns is None:
            span.perf_end_ns = perf_counter_ns()
        runtime = _runtime.STATE.runtime or _runtime.get_runtime()
        runtime.recorder.record(span)
    except Exception:
        logger.warning("llmmon: could not record span %r", span.name, exc_info=True)
