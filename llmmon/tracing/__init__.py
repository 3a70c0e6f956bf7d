"""Tracing: the decorator, the span context, the recorder and its writer, PII redaction.

Integrations (``llmmon.tracing.integrations``) build on ``new_span`` / ``activate`` /
``deactivate`` / ``finish_span`` from ``llmmon.tracing.context``.
"""

from __future__ import annotations

from llmmon.tracing.context import activate, current_span, deactivate, finish_span, new_span
from llmmon.tracing.decorator import SpanContext, span, trace
from llmmon.tracing.recorder import FlushResult, InMemoryRecorder, QueueRecorder, Recorder
from llmmon.tracing.runtime import Runtime, configure, flush, get_runtime, shutdown, stats
from llmmon.tracing.span import SpanRecord

__all__ = [
    "FlushResult",
    "InMemoryRecorder",
    "QueueRecorder",
    "Recorder",
    "Runtime",
    "SpanContext",
    "SpanRecord",
    "activate",
    "configure",
    "current_span",
    "deactivate",
    "finish_span",
    "flush",
    "get_runtime",
    "new_span",
    "shutdown",
    "span",
    "stats",
    "trace",
]
