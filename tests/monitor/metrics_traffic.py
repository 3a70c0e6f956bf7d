"""Seeded synthetic traffic for the monitor's metric, drift and subgroup tests.

Each trace is a root ``function`` span with one ``llm`` child (model, prompt, tokens, cost,
time to first token on the child), written straight into the span table; answer checks,
claims and votes go into their tables. Tests recompute every expected value from the same
Python objects with numpy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, insert, select

from llmmon.storage import rollups
from llmmon.storage.models import AnswerCheck, ClaimCheck, Feedback, Span

BASE = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)  # a Monday


@dataclass
class Trace:
    trace_id: str
    start: datetime
    latency_ms: float
    status: str = "ok"
    model: str = "gpt-4o-mini"
    prompt_name: str = "support-answer"
    prompt_version: str = "v1"
    input_tokens: int = 100
    output_tokens: int = 50
    cost_usd: float | None = 0.001
    ttft_ms: float | None = None
    session_id: str | None = None
    user_id: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    question: str = "How much is shipping?"
    answer: str = "Shipping is free."
    claims: list[str] | None = None  # claim verdicts when the answer was checked
    vote: str | None = None  # "up" | "down"

    @property
    def end(self) -> datetime:
        return self.start + timedelta(milliseconds=self.latency_ms)

    @property
    def checked_verdict(self) -> str | None:
        if self.claims is None:
            return None
        if "contradicted" in self.claims:
            return "hallucinated"
        return "supported" if all(c == "supported" for c in self.claims) else "unverifiable"


def _span_row(trace: Trace, *, root: bool) -> dict[str, Any]:
    suffix = "r" if root else "l"
    latency = trace.latency_ms if root else trace.latency_ms * 0.9
    start = trace.start if root else trace.start + timedelta(milliseconds=trace.latency_ms * 0.05)
    return {
        "span_id": (trace.trace_id + suffix)[-32:],
        "trace_id": trace.trace_id,
        "parent_span_id": None if root else (trace.trace_id + "r")[-32:],
        "name": "answer" if root else "chat",
        "kind": "function" if root else "llm",
        "start_time": start,
        "end_time": start + timedelta(milliseconds=latency),
        "latency_ms": latency,
        "ttft_ms": None if root else trace.ttft_ms,
        "status": trace.status,
        "input": json.dumps({"question": trace.question}, ensure_ascii=False) if root else None,
        "output": json.dumps(trace.answer, ensure_ascii=False) if root else None,
        "io_truncated": False,
        "user_id": trace.user_id if root else None,
        "session_id": trace.session_id if root else None,
        "tags": json.dumps(trace.tags) if root and trace.tags else None,
        "attributes": json.dumps(trace.metadata) if root and trace.metadata else None,
        "prompt_name": trace.prompt_name if root else None,
        "prompt_version": trace.prompt_version if root else None,
        "model": None if root else trace.model,
        "provider": None if root else "openai",
        "input_tokens": None if root else trace.input_tokens,
        "output_tokens": None if root else trace.output_tokens,
        "total_tokens": None if root else trace.input_tokens + trace.output_tokens,
        "tokens_estimated": False,
        "cost_usd": None if root else trace.cost_usd,
        "is_eval": False,
        "error_type": "RuntimeError" if trace.status == "error" else None,
        "error_message": None,
        "cached_tokens": None,
        "reasoning_tokens": None,
        "prompt_hash": None,
    }


def store(engine: Engine, traces: Sequence[Trace], *, eval_noise: bool = True) -> None:
    """Write the traces (two spans each), their checks and votes; plus an eval span that must be ignored."""
    span = Span.__table__  # type: ignore[attr-defined]
    rows = [row for trace in traces for row in (_span_row(trace, root=True), _span_row(trace, root=False))]
    if eval_noise and traces:
        noise = Trace(trace_id="e" * 32, start=traces[0].start, latency_ms=99999.0, status="error")
        row = _span_row(noise, root=True)
        row["is_eval"] = True
        rows.append(row)
    answer = AnswerCheck.__table__  # type: ignore[attr-defined]
    claim = ClaimCheck.__table__  # type: ignore[attr-defined]
    feedback = Feedback.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        for start in range(0, len(rows), 2000):
            connection.execute(insert(span), rows[start : start + 2000])
        rollups.add_inserted_spans(connection, rows)  # as the span write path does
        checked = [t for t in traces if t.claims is not None]
        first = int(connection.execute(select(func.coalesce(func.max(answer.c.id), 0))).scalar_one()) + 1
        answer_rows = [
            {"id": index, "trace_id": t.trace_id, "verdict": t.checked_verdict, "score": 0.5, "created_at": t.end}
            for index, t in enumerate(checked, start=first)
        ]
        claim_rows = [
            {
                "answer_check_id": index,
                "trace_id": trace.trace_id,
                "text": f"claim {n}",
                "start": 0,
                "end": 5,
                "verdict": verdict,
                "tier": "deterministic",
                "evidence": "[]",
                "reason": "",
            }
            for index, trace in enumerate(checked, start=first)
            for n, verdict in enumerate(trace.claims or [])
        ]
        if answer_rows:
            connection.execute(insert(answer), answer_rows)
        if claim_rows:
            connection.execute(insert(claim), claim_rows)
        votes = [
            {
                "trace_id": t.trace_id,
                "user_key": "",
                "value": t.vote,
                "score": -1.0 if t.vote == "down" else 1.0,
                "source": "python",
                "created_at": t.end,
                "updated_at": t.end,
            }
            for t in traces
            if t.vote is not None
        ]
        if votes:
            connection.execute(insert(feedback), votes)


def mixed_traffic(seed: int, *, n: int = 400, start: datetime = BASE, hours: float = 24.0) -> list[Trace]:
    """Traffic over two models, two prompt versions, a metadata tier, tags, sessions, checks and votes."""
    rng = np.random.default_rng(seed)
    traces: list[Trace] = []
    offsets = np.sort(rng.uniform(0, hours * 3600, size=n))
    for i in range(n):
        model = "gpt-4o-mini" if rng.random() < 0.6 else "gpt-4o"
        version = "v1" if rng.random() < 0.5 else "v2"
        tier = ["free", "pro", "enterprise"][int(rng.integers(0, 3))]
        claims = None
        if rng.random() < 0.7:
            claims = [str(v) for v in rng.choice(["supported", "contradicted", "unverifiable"], p=[0.7, 0.15, 0.15],
                                                  size=int(rng.integers(1, 4)))]
        vote = None
        if rng.random() < 0.5:
            vote = "down" if rng.random() < 0.25 else "up"
        tags = ["prod"] + (["beta"] if rng.random() < 0.3 else [])
        traces.append(
            Trace(
                trace_id=f"{seed:04x}{i:028x}",
                start=start + timedelta(seconds=float(offsets[i])),
                latency_ms=float(rng.lognormal(7.0, 0.5)),
                status="error" if rng.random() < 0.05 else "ok",
                model=model,
                prompt_version=version,
                input_tokens=int(rng.integers(20, 400)),
                output_tokens=int(rng.integers(10, 300)),
                cost_usd=None if rng.random() < 0.1 else float(rng.uniform(0.0001, 0.01)),
                ttft_ms=float(rng.uniform(50, 900)) if rng.random() < 0.8 else None,
                session_id=f"s{int(rng.integers(0, n // 4))}",
                user_id=f"u{int(rng.integers(0, 50))}",
                tags=tags,
                metadata={"tier": tier, "lang": "ko" if rng.random() < 0.3 else "en"},
                claims=claims,
                vote=vote,
            )
        )
    return traces
