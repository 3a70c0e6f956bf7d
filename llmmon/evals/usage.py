"""Latency, tokens and cost of eval calls, read from the spans the calls produced.

``SpanCollector`` is a ``Recorder`` that hands every span on to the real recorder and also
keeps the spans of the traces an eval run is watching, so the runner gets the same numbers the
``span`` table will hold (usage from the OpenAI integration, estimated tokens, priced cost)
without waiting for the writer thread. Usage::

    collector = SpanCollector(QueueRecorder(settings))
    llmmon.configure(settings, recorder=collector)
    with llmmon.span("eval.case") as root:
        collector.watch(root.trace_id)
        answer(question)
    usage = usage_of(collector.collect(root.trace_id), prices)
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from llmmon.tracing.recorder import FlushResult, Recorder
from llmmon.tracing.span import SpanRecord

__all__ = ["CallUsage", "SpanCollector", "usage_of"]

logger = logging.getLogger("llmmon")


class SpanCollector:
    """A recorder that forwards everything and keeps the spans of watched traces."""

    def __init__(self, inner: Recorder) -> None:
        self.inner = inner
        self._watched: dict[str, list[SpanRecord]] = {}
        self._lock = threading.Lock()

    def watch(self, trace_id: str) -> None:
        """Keep the spans of ``trace_id`` until ``collect``."""
        if trace_id:
            with self._lock:
                self._watched.setdefault(trace_id, [])

    def collect(self, trace_id: str) -> list[SpanRecord]:
        """The spans of ``trace_id`` recorded so far; stops watching it."""
        with self._lock:
            return self._watched.pop(trace_id, [])

    def record(self, span: SpanRecord) -> None:
        """Keep the span if its trace is watched, then hand it to the inner recorder."""
        bucket = self._watched.get(span.trace_id)
        if bucket is not None:
            with self._lock:
                bucket.append(span)
        self.inner.record(span)

    def flush(self, timeout: float = 5.0) -> FlushResult:
        """Flush the inner recorder."""
        return self.inner.flush(timeout)

    def close(self, timeout: float = 5.0) -> FlushResult:
        """Close the inner recorder."""
        return self.inner.close(timeout)

    def stats(self) -> dict[str, Any]:
        """The inner recorder's counters."""
        return self.inner.stats()


@dataclass(frozen=True)
class CallUsage:
    """Tokens and cost of one traced call, split into the app's (chatbot) and the judge's (``is_eval``)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    judge_cost_usd: float = 0.0
    llm_spans: int = 0


def usage_of(spans: list[SpanRecord], prices: Any | None) -> CallUsage:
    """Sum the ``llm`` spans: usage as recorded (estimated from the payload when missing), cost from prices."""
    tokens = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    cost: float | None = None
    judge_cost = 0.0
    llm = 0
    for span in spans:
        if span.kind != "llm":
            continue
        usage = dict(span.usage or {})
        if not usage and (span.input is not None or span.output is not None):
            usage = _estimate(span)
        span_cost = _cost(prices, span.model, usage)
        if span.is_eval:
            judge_cost += span_cost or 0.0
            continue
        llm += 1
        for key in tokens:
            tokens[key] += int(usage.get(key) or 0)
        if span_cost is not None:
            cost = (cost or 0.0) + span_cost
    if llm == 0:
        return CallUsage(judge_cost_usd=judge_cost)
    if not tokens["total_tokens"]:
        tokens["total_tokens"] = tokens["input_tokens"] + tokens["output_tokens"]
    return CallUsage(cost_usd=cost, judge_cost_usd=judge_cost, llm_spans=llm, **tokens)


def _estimate(span: SpanRecord) -> dict[str, int]:
    from llmmon.pricing import estimate_usage

    try:
        return dict(estimate_usage(span.input, span.output, span.model))
    except Exception as exc:  # tokens are best effort, as in the writer
        logger.debug("llmmon: token estimation failed: %s", exc)
        return {}


def _cost(prices: Any | None, model: str | None, usage: dict[str, int]) -> float | None:
    if prices is None or not model or not usage:
        return None
    try:
        value = prices.cost_usd(
            model,
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            cached_tokens=usage.get("cached_tokens"),
        )
    except Exception as exc:  # a pricing bug must not fail the eval
        logger.warning("llmmon: pricing failed for model %r: %s", model, exc)
        return None
    return None if value is None else float(value)
