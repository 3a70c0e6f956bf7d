"""Seeded data for the monitor pages and API: stored alerts, drifting traffic, a canary of two versions."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import Engine
from sqlmodel import Session

from llmmon.storage.models.monitor_alerts import Alert
from tests.monitor.metrics_traffic import Trace, store
from tests.monitor.traffic import Answer, write_answers

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
QUESTIONS = ["How much is shipping to Busan?", "Can I return shoes after 30 days?", "What are your opening hours?"]


def seed_alerts(engine: Engine, *, now: datetime) -> dict[str, int]:
    """One open critical alert with a failed and a delivered notification, one acked warning, one resolved info."""
    delivered = {"url": "http://127.0.0.1:9/hook", "event": "firing", "ok": True, "attempts": 1, "status": 200,
                 "error": None, "at": now.isoformat()}  # fmt: skip
    failed = delivered | {"ok": False, "attempts": 3, "status": 500, "error": "HTTP 500"}
    rows = {
        "open": Alert(rule_id="hallucination-spike", label_hash="a" * 64, labels=json.dumps({"prompt_version": "v4"}),
                      metric="hallucination_rate", severity="critical", state="open", opened_at=now - 2 * HOUR,
                      last_evaluated_at=now, last_value=0.25, threshold=0.1, volume=300,
                      message="hallucination_rate = 0.25 (> 0.1) over 1h on prompt_version=v4, n=300: breached",
                      notifications=json.dumps([failed, delivered])),
        "acked": Alert(rule_id="p99-latency", label_hash="b" * 64, labels="{}", metric="latency_p99",
                       severity="warning", state="acked", opened_at=now - 5 * HOUR, acked_at=now - 4 * HOUR,
                       acked_by="key:abc", last_evaluated_at=now, last_value=5400.0, threshold=5000.0, volume=90,
                       message="latency_p99 = 5400 (> 5000) over 1h on all traffic, n=90: breached"),
        "resolved": Alert(rule_id="volume-drop", label_hash="c" * 64, labels="{}", metric="volume", severity="info",
                          state="resolved", opened_at=now - DAY, resolved_at=now - timedelta(hours=20),
                          last_evaluated_at=now - timedelta(hours=20), last_value=120.0, threshold=1.0, volume=120,
                          message="volume = 120 (< 1) over 1h on all traffic, n=120: back to normal"),
    }  # fmt: skip
    with Session(engine) as session:
        session.add_all(rows.values())
        session.commit()
        return {state: row.id for state, row in rows.items() if row.id is not None}


def seed_drift(engine: Engine, *, end: datetime, days: int = 4, per_day: int = 200, latency_scale: float = 2.0) -> None:
    """``days`` days of steady traffic before ``end - 1 day``, then a last day with latency scaled up."""
    rng = np.random.default_rng(7)
    traces = []
    for day in range(days + 1):
        start = end - (days + 1 - day) * DAY
        scale = latency_scale if day == days else 1.0
        for i in range(per_day):
            traces.append(
                Trace(
                    trace_id=f"d{day:03x}{i:028x}",
                    start=start + timedelta(seconds=float(rng.uniform(0, 86000))),
                    latency_ms=float(rng.lognormal(7.0, 0.3)) * scale,
                    question=QUESTIONS[int(rng.integers(0, len(QUESTIONS)))],
                    input_tokens=int(rng.integers(20, 200)),
                    output_tokens=int(rng.integers(10, 100)),
                )
            )
    store(engine, traces, eval_noise=False)


def seed_canary(engine: Engine, *, start: datetime, n: int = 900, candidate_bad: float = 0.3) -> None:
    """Prompt support-answer: v3 (2% hallucinated) and a v4 candidate hallucinating ``candidate_bad`` of the time."""
    rng = random.Random(11)
    answers = []
    for i in range(n):
        candidate = rng.random() < 1 / 3
        bad = rng.random() < (candidate_bad if candidate else 0.02)
        answers.append(
            Answer(
                at=start + timedelta(seconds=i),
                prompt_version="v4" if candidate else "v3",
                hallucinated=bad,
                thumbs="down" if bad and rng.random() < 0.5 else "up",
                latency_ms=rng.gauss(800.0, 50.0),
                question=QUESTIONS[i % len(QUESTIONS)],
            )
        )
    write_answers(engine, answers, seed=3)
