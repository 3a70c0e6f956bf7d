"""The replayed detection-delay scenario (shared by the test and ``benchmarks/bench_monitor.py``).

A support bot answers 1 question per second. After ``warmup`` minutes prompt version v2 is
deployed and takes all traffic; with ``fault=True`` v2 quotes a wrong price in 20% of its
answers, which the fact checker marks as contradicted. Independently of the fault, the checker
flags 2% of answers (its false-positive rate), 0.5% of calls fail, latency is log-normal around
0.9 s and 10% of answers get a vote (down for 60% of bad answers, 5% of good ones).

Time is simulated: each minute's spans and answer checks are written with their timestamps,
then the monitor is evaluated at that minute's end (``now=``). Fixed seeds make runs repeatable.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from llmmon.monitor.alerts import AlertMonitor
from llmmon.monitor.rules import RuleSet
from tests.monitor.traffic import Answer, write_answers

__all__ = ["FAULT_RATE", "ReplayResult", "replay"]

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FAULT_RATE = 0.20
CHECKER_FALSE_POSITIVES = 0.02


@dataclass
class ReplayResult:
    """When each rule first opened an alert, relative to the deploy of v2."""

    deploy_at: datetime
    first_alert: dict[str, timedelta] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    evaluations: int = 0
    answers: int = 0


def _minute_of_traffic(rng: random.Random, minute_start: datetime, *, version: str, fault: bool) -> list[Answer]:
    answers = []
    for second in range(60):
        wrong_price = fault and rng.random() < FAULT_RATE
        flagged = wrong_price or rng.random() < CHECKER_FALSE_POSITIVES
        failed = rng.random() < 0.005
        vote = None
        if rng.random() < 0.10:
            vote = "down" if rng.random() < (0.60 if flagged else 0.05) else "up"
        answers.append(
            Answer(
                at=minute_start + timedelta(seconds=second, milliseconds=rng.randrange(1000)),
                prompt_version=version,
                latency_ms=900.0 * math.exp(rng.gauss(0.0, 0.35)),
                status="error" if failed else "ok",
                hallucinated=None if failed else flagged,
                thumbs=None if failed else vote,
                cost_usd=0.0008,
                user_id=f"user-{rng.randrange(500)}",
            )
        )
    return answers


def replay(
    engine: Engine,
    rules: RuleSet,
    *,
    fault: bool,
    seed: int,
    warmup_minutes: int = 20,
    after_minutes: int = 15,
) -> ReplayResult:
    """Replay the scenario minute by minute, evaluating ``rules`` at every minute's end."""
    rng = random.Random(seed)
    deploy_at = START + timedelta(minutes=warmup_minutes)
    result = ReplayResult(deploy_at=deploy_at)
    monitor = AlertMonitor(engine, rules)
    for minute in range(warmup_minutes + after_minutes):
        minute_start = START + timedelta(minutes=minute)
        deployed = minute_start >= deploy_at
        answers = _minute_of_traffic(rng, minute_start, version="v2" if deployed else "v1", fault=fault and deployed)
        write_answers(engine, answers, seed=seed * 100_003 + minute)
        result.answers += len(answers)
        now = minute_start + timedelta(minutes=1)
        evaluation = monitor.evaluate(now=now)
        result.evaluations += 1
        for item in evaluation.evaluations:  # the first breach of a rule is the alert it opened
            if item.breached and item.rule_id not in result.first_alert:
                result.first_alert[item.rule_id] = now - deploy_at
                result.labels[item.rule_id] = item.labels
    return result
