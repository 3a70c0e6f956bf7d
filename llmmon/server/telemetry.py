"""Prometheus metrics of the server, on a registry per app (no global state).

Two sources:

* in-process: HTTP request latency by route template/method/status, votes received,
  spans ingested by endpoint;
* the database, read at scrape time (so spans written directly by SDKs count too, cached
  for a few seconds): spans, errors, tokens, cost and an LLM latency histogram by model and
  prompt version, hallucination verdicts, and feedback counts.

Label cardinality is bounded: the ``top_n`` busiest models and prompt versions keep their
names; everything else is reported as ``other`` (missing values as ``none``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, Float, and_, case, cast, func, literal, select

from llmmon.storage.models import AnswerCheck, Feedback, Span

__all__ = ["LATENCY_BUCKETS_S", "DatabaseCollector", "ServerMetrics"]

logger = logging.getLogger("llmmon")

LATENCY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_HTTP_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_CACHE_S = 5.0


class DatabaseCollector(Collector):
    """Aggregates over the stored spans, checks and feedback, computed in SQL at scrape time."""

    def __init__(self, engine: Engine, *, top_n: int, cache_s: float = _CACHE_S) -> None:
        self._engine = engine
        self._top_n = top_n
        self._cache_s = cache_s
        self._cached: tuple[float, list[Metric]] | None = None
        self._lock = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        return []  # collected lazily: describing must not query the database

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self._cache_s:
                try:
                    self._cached = (now, self._build())
                except Exception as exc:  # a scrape must not fail the process metrics with it
                    logger.warning("llmmon server: metrics query failed: %s", exc)
                    return iter(())
            return iter(self._cached[1])

    def _build(self) -> list[Metric]:
        span = Span.__table__  # type: ignore[attr-defined]
        model = func.coalesce(span.c.model, literal("none"))
        version = func.coalesce(span.c.prompt_version, literal("none"))
        bucket_columns = [
            func.sum(case((span.c.latency_ms <= bound * 1000.0, 1), else_=0)) for bound in LATENCY_BUCKETS_S
        ]
        statement = (
            select(
                model,
                version,
                func.count(),
                func.sum(case((span.c.status == "error", 1), else_=0)),
                func.coalesce(func.sum(span.c.input_tokens), 0),
                func.coalesce(func.sum(span.c.output_tokens), 0),
                func.coalesce(func.sum(span.c.cost_usd), 0.0),
                func.coalesce(func.sum(cast(span.c.latency_ms, Float)), 0.0),
                *bucket_columns,
            )
            .where(span.c.kind == "llm", span.c.is_eval.is_(False))
            .group_by(model, version)
        )
        checks = AnswerCheck.__table__  # type: ignore[attr-defined]
        verdict_statement = select(checks.c.verdict, func.count()).group_by(checks.c.verdict)
        feedback_table = Feedback.__table__  # type: ignore[attr-defined]
        direction = case(
            (and_(feedback_table.c.score > 0), "up"), (feedback_table.c.score < 0, "down"), else_="neutral"
        )
        feedback_statement = select(direction, func.count()).group_by(direction)
        with self._engine.connect() as connection:
            rows = [tuple(row) for row in connection.execute(statement)]
            verdicts = [tuple(row) for row in connection.execute(verdict_statement)]
            votes = [tuple(row) for row in connection.execute(feedback_statement)]
        return self._families(rows, verdicts, votes)

    def _bounded(self, rows: list[tuple[Any, ...]], index: int) -> set[str]:
        counts: dict[str, int] = {}
        for row in rows:
            counts[row[index]] = counts.get(row[index], 0) + int(row[2])
        return {name for name, _ in sorted(counts.items(), key=lambda item: -item[1])[: self._top_n]}

    def _families(
        self, rows: list[tuple[Any, ...]], verdicts: list[tuple[Any, ...]], votes: list[tuple[Any, ...]]
    ) -> list[Metric]:
        keep_models = self._bounded(rows, 0)
        keep_versions = self._bounded(rows, 1)
        merged: dict[tuple[str, str], list[float]] = {}
        for row in rows:
            key = (row[0] if row[0] in keep_models else "other", row[1] if row[1] in keep_versions else "other")
            values = [float(value or 0) for value in row[2:]]
            if key in merged:
                merged[key] = [a + b for a, b in zip(merged[key], values, strict=True)]
            else:
                merged[key] = values
        labels = ["model", "prompt_version"]
        spans = CounterMetricFamily("llmmon_llm_calls", "LLM calls recorded", labels=labels)
        errors = CounterMetricFamily("llmmon_llm_errors", "LLM calls that ended in an error", labels=labels)
        tokens = CounterMetricFamily("llmmon_tokens", "Tokens used by LLM calls", labels=[*labels, "direction"])
        cost = CounterMetricFamily("llmmon_cost_usd", "Cost of LLM calls in USD", labels=labels)
        latency = HistogramMetricFamily("llmmon_llm_latency_seconds", "Latency of LLM calls", labels=labels)
        for (model_name, version), values in sorted(merged.items()):
            count, error_count, input_tokens, output_tokens, cost_usd, latency_sum, *buckets = values
            spans.add_metric([model_name, version], count)
            errors.add_metric([model_name, version], error_count)
            tokens.add_metric([model_name, version, "input"], input_tokens)
            tokens.add_metric([model_name, version, "output"], output_tokens)
            cost.add_metric([model_name, version], cost_usd)
            cumulative = [(str(bound), value) for bound, value in zip(LATENCY_BUCKETS_S, buckets, strict=True)]
            latency.add_metric([model_name, version], [*cumulative, ("+Inf", count)], latency_sum / 1000.0)
        hallucination = CounterMetricFamily(
            "llmmon_answer_checks", "Fact-checked answers by verdict", labels=["verdict"]
        )
        for verdict, count in verdicts:
            hallucination.add_metric([str(verdict)], float(count))
        feedback = CounterMetricFamily("llmmon_feedback_votes", "Current feedback votes by direction", labels=["value"])
        for value, count in votes:
            feedback.add_metric([str(value)], float(count))
        return [spans, errors, tokens, cost, latency, hallucination, feedback]


class ServerMetrics:
    """The app's registry and its in-process instruments."""

    def __init__(self, engine: Engine, *, top_n: int) -> None:
        self.registry = CollectorRegistry()
        self._http = Histogram(
            "llmmon_http_request_duration_seconds",
            "Server request latency",
            ["route", "method", "status"],
            buckets=_HTTP_BUCKETS_S,
            registry=self.registry,
        )
        self._votes = Counter(
            "llmmon_feedback_received", "Votes received by this server process", ["value"], registry=self.registry
        )
        self._ingested = Counter(
            "llmmon_spans_ingested", "Spans received over HTTP by this process", ["endpoint"], registry=self.registry
        )
        self.registry.register(DatabaseCollector(engine, top_n=top_n))

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one HTTP request (route is the template, so labels stay bounded)."""
        self._http.labels(route, method, str(status)).observe(seconds)

    def feedback_received(self, value: str) -> None:
        """Count a stored vote."""
        self._votes.labels(value).inc()

    def spans_ingested(self, endpoint: str, count: int) -> None:
        """Count spans stored through an ingest endpoint."""
        self._ingested.labels(endpoint).inc(count)
