"""Helpers for the worker tests: a KB, traces written as span rows, and recorded judge endpoints."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, insert, select

from llmmon.checks.judge import JudgeClient
from llmmon.checks.scorers import FaithfulnessScorer, RelevanceScorer
from llmmon.knowledge.store import ingest_paths
from llmmon.storage import rollups
from llmmon.storage.models import EvalJob, JudgeScore, Span
from llmmon.storage.models.checks import AnswerCheck
from tests.checks.judge.recorded import ok

KB_DIR = Path(__file__).resolve().parents[2] / "examples" / "support_bot" / "kb"

GOOD = "On Saturday the store opens at 11 AM and closes at 6 PM."
WRONG = "On Saturday the store opens at 8 AM and closes at 6 PM."
QUESTION = "When is the store open on Saturday?"


def seed_kb(engine: Engine, name: str = "support") -> None:
    """The demo knowledge base, stored under ``name``."""
    ingest_paths(engine, name, [KB_DIR])


def add_trace(
    engine: Engine,
    trace_id: str,
    *,
    answer: str | None = GOOD,
    question: str = QUESTION,
    status: str = "ok",
    start: datetime | None = None,
    prompt: tuple[str, str] | None = ("support-answer", "v1"),
    model: str | None = "gpt-4o-mini",
    is_eval: bool = False,
    cost_usd: float | None = None,
) -> None:
    """A root span (the bot's answer) and one llm child span, as the tracing writer stores them."""
    start = start or datetime.now(UTC) - timedelta(minutes=5)
    root = {
        "span_id": hashlib.md5(f"{trace_id}/root".encode()).hexdigest(),
        "trace_id": trace_id,
        "parent_span_id": None,
        "name": "answer",
        "kind": "function",
        "start_time": start,
        "end_time": start + timedelta(milliseconds=800),
        "latency_ms": 800.0,
        "status": status,
        "input": json.dumps({"question": question}),
        "output": json.dumps(answer) if answer is not None else None,
        "prompt_name": prompt[0] if prompt else None,
        "prompt_version": prompt[1] if prompt else None,
        "is_eval": is_eval,
        "cost_usd": cost_usd,
        "model": model if is_eval else None,
    }
    rows = [root]
    if not is_eval:
        rows.append(
            {
                **root,
                "span_id": hashlib.md5(f"{trace_id}/llm".encode()).hexdigest(),
                "parent_span_id": root["span_id"],
                "name": "chat",
                "kind": "llm",
                "model": model,
                "start_time": start + timedelta(milliseconds=10),
                "status": "ok",
                "prompt_name": None,
                "prompt_version": None,
            }
        )
    with engine.begin() as connection:
        connection.execute(insert(Span.__table__), rows)  # type: ignore[attr-defined]
        rollups.add_inserted_spans(connection, rows)  # as the span write path does


def add_traces(engine: Engine, count: int, *, prefix: str = "t", wrong_every: int = 0) -> list[str]:
    """``count`` traces; every ``wrong_every``-th answer states a wrong opening time."""
    base = datetime.now(UTC) - timedelta(hours=1)
    ids = [f"{prefix}{i:07d}".ljust(32, "0") for i in range(count)]
    for i, trace_id in enumerate(ids):
        wrong = wrong_every and i % wrong_every == 0
        add_trace(engine, trace_id, answer=WRONG if wrong else GOOD, start=base + timedelta(milliseconds=i))
    return ids


def judge_reply(request: httpx.Request) -> httpx.Response:
    """A recorded judge completion: score 4 with a reason (valid for faithfulness and relevance)."""
    return ok({"reason": "The answer matches the passages.", "score": 4})


class Switchable:
    """A judge endpoint that is down (connection refused) until ``up`` is set; counts requests."""

    def __init__(self, *, up: bool = True, delay_s: float = 0.0) -> None:
        self.up = up
        self.delay_s = delay_s
        self.requests = 0
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
        if self.delay_s:
            time.sleep(self.delay_s)
        if not self.up:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return judge_reply(request)


def make_scorers(handler: Any) -> tuple[list[Any], httpx.Client, JudgeClient]:
    """Faithfulness and relevance scorers on a real openai client over ``httpx.MockTransport``."""
    http = httpx.Client(transport=httpx.MockTransport(handler))
    judge = JudgeClient(
        "http://judge.test/v1", "judge-model", "sk-test", http_client=http, max_retries=0, backoff_base_s=0.0
    )
    return [FaithfulnessScorer(judge), RelevanceScorer(judge)], http, judge


def jobs_by_id(engine: Engine) -> dict[str, Any]:
    """Every eval_job row by trace id."""
    with engine.connect() as connection:
        return {row.trace_id: row for row in connection.execute(select(EvalJob.__table__))}  # type: ignore[attr-defined]


def check_counts(engine: Engine) -> dict[str, int]:
    """AnswerCheck rows per trace id."""
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for (trace_id,) in connection.execute(select(AnswerCheck.__table__.c.trace_id)):  # type: ignore[attr-defined]
            counts[trace_id] = counts.get(trace_id, 0) + 1
    return counts


def score_counts(engine: Engine) -> dict[tuple[str, str], int]:
    """JudgeScore rows per (trace id, rubric)."""
    counts: dict[tuple[str, str], int] = {}
    table = JudgeScore.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        for trace_id, name in connection.execute(select(table.c.trace_id, table.c.name)):
            counts[(trace_id, name)] = counts.get((trace_id, name), 0) + 1
    return counts


def all_once(counts: dict[Any, int], keys: Sequence[Any]) -> bool:
    """True when every key was counted exactly once and nothing else was."""
    return sorted(counts) == sorted(keys) and set(counts.values()) == {1}
