"""Benchmark of the alert monitor (issue 6 targets).

1. ``rules``: one evaluation of 20 rules over N root spans (default 1,000,000) spread over the
   last 24 hours (so 1-day windows read all of them), with answer checks on 20% and votes on
   5%. Baseline in the same run: one ``SELECT count(*)`` over the span table (a full scan).
   Target: ≤ 2 s for 20 rules over 1,000,000 spans.
2. ``delay``: the replayed detection-delay scenario (tests/monitor/scenario.py) with the shipped
   rules for several seeds, with and without the fault. Target: alert within 5 minutes of
   traffic, no alert without the fault.

    .venv/bin/python benchmarks/bench_monitor.py --spans 1000000
    .venv/bin/python benchmarks/bench_monitor.py --only delay --seeds 5
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmmon.monitor.alerts import AlertMonitor, RegistryMetrics
from llmmon.monitor.rules import load_rules, parse_rules
from llmmon.storage import rollups
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from llmmon.storage.models import AnswerCheck, ClaimCheck, Feedback, Span

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

RULES = [
    {"id": f"{metric}-{window}-{group or 'all'}", "metric": metric, "window": window, "threshold": threshold,
     "min_volume": 10, **({"group_by": group} if group else {})}
    for metric, threshold in [
        ("latency_p99", 10_000), ("latency_p50", 3_000), ("error_rate", 0.05), ("hallucination_rate", 0.1),
        ("thumbs_down_rate", 0.25),
    ]
    for window, group in [("5m", "prompt_version"), ("1h", "prompt_version"), ("1d", None), ("1d", "prompt_version")]
]  # fmt: skip


def populate(url: str, n: int, *, seed: int = 0) -> None:
    """N root spans over the last day: 3 prompt versions, checks on 20%, votes on 5%."""
    rng = random.Random(seed)
    engine = make_engine(url)
    upgrade_database(engine)
    span_t, check_t, claim_t, vote_t = (m.__table__ for m in (Span, AnswerCheck, ClaimCheck, Feedback))  # type: ignore[attr-defined]
    batch = 50_000
    check_id = 0
    try:
        for offset in range(0, n, batch):
            spans, checks, claims, votes = [], [], [], []
            for i in range(offset, min(n, offset + batch)):
                at = NOW - timedelta(seconds=86_400 * (1 - (i + 0.5) / n))
                trace_id = f"{i:032x}"
                latency = 900.0 * (1.0 + rng.random())
                spans.append({
                    "span_id": trace_id[16:], "trace_id": trace_id, "parent_span_id": None, "name": "answer",
                    "kind": "chain", "start_time": at, "end_time": at + timedelta(milliseconds=latency),
                    "latency_ms": latency, "status": "error" if rng.random() < 0.01 else "ok", "io_truncated": False,
                    "prompt_name": "support-answer", "prompt_version": f"v{1 + i % 3}", "model": "gpt-4o-mini",
                    "cost_usd": 0.0008, "tokens_estimated": False, "is_eval": False,
                })  # fmt: skip
                if i % 5 == 0:
                    check_id += 1
                    bad = rng.random() < 0.03
                    verdict = "hallucinated" if bad else "supported"
                    checks.append({"id": check_id, "trace_id": trace_id, "verdict": verdict,
                                   "score": float(bad), "created_at": at})  # fmt: skip
                    claims.append({"answer_check_id": check_id, "trace_id": trace_id, "text": "claim", "start": 0,
                                   "end": 5, "verdict": "contradicted" if bad else "supported", "tier": "deterministic",
                                   "evidence": "[]", "reason": ""})  # fmt: skip
                if i % 20 == 0:
                    down = rng.random() < 0.1
                    votes.append({"trace_id": trace_id, "user_key": "", "value": "down" if down else "up",
                                  "score": -1.0 if down else 1.0, "source": "python", "created_at": at,
                                  "updated_at": at})  # fmt: skip
            with engine.begin() as connection:
                for table, rows in ((span_t, spans), (check_t, checks), (claim_t, claims), (vote_t, votes)):
                    if rows:
                        connection.execute(insert(table), rows)
        # The spans went straight into the span table (executemany, no write path), so the hourly
        # roll-ups are rebuilt once from it: rollups.rebuild computes exactly what the write path
        # adds span by span (tests/storage/test_rollups.py checks stored == rebuilt).
        with engine.begin() as connection:
            rollups.rebuild(connection)
        if engine.dialect.name == "sqlite":
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()


def bench_rules(url: str, n: int, repeats: int) -> None:
    engine = make_engine(url)
    try:
        ruleset = parse_rules({"rules": RULES}, known_metrics=RegistryMetrics().known_metrics())
        monitor = AlertMonitor(engine, ruleset)
        with engine.connect() as connection:
            started = time.perf_counter()
            count = connection.execute(select(func.count()).select_from(Span)).scalar_one()
            scan = time.perf_counter() - started
        timings = []
        for _ in range(repeats):
            started = time.perf_counter()
            result = monitor.evaluate(now=NOW)
            timings.append(time.perf_counter() - started)
        best, worst = min(timings), max(timings)
        print(f"spans in table: {count:,}; rules: {len(ruleset.rules)}; evaluations: {len(result.evaluations)}")
        print(f"baseline SELECT count(*) over span: {scan * 1000:.0f} ms")
        verdict = "OK" if best <= 2 else "MISSED"
        print(f"monitor.evaluate (20 rules): best {best:.2f} s, worst {worst:.2f} s "
              f"({best / scan:.1f}x the count(*) scan) -> target <= 2 s: {verdict}")  # fmt: skip
    finally:
        engine.dispose()


def bench_delay(seeds: int) -> None:
    from tests.monitor.scenario import replay

    rules = load_rules(None, known_metrics=RegistryMetrics().known_metrics())
    with tempfile.TemporaryDirectory() as tmp:
        for fault in (True, False):
            for seed in range(1, seeds + 1):
                engine = make_engine(f"sqlite:///{Path(tmp) / f'delay-{fault}-{seed}.db'}")
                try:
                    upgrade_database(engine)
                    started = time.perf_counter()
                    result = replay(engine, rules, fault=fault, seed=seed)
                    elapsed = time.perf_counter() - started
                finally:
                    engine.dispose()
                alerts = {rule: f"{delay.total_seconds() / 60:.0f} min" for rule, delay in result.first_alert.items()}
                each = elapsed / result.evaluations * 1000
                print(f"fault={fault!s:5} seed={seed}: alerts {alerts or 'none'} "
                      f"({result.evaluations} evaluations, {each:.0f} ms each)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", choices=["rules", "delay"])
    parser.add_argument("--db", help="Reuse this SQLite file (populated on first use).")
    args = parser.parse_args()
    if args.only in (None, "rules"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(args.db) if args.db else Path(tmp) / "bench.db"
            url = f"sqlite:///{path}"
            if not path.exists():
                started = time.perf_counter()
                populate(url, args.spans)
                print(f"populated {args.spans:,} spans in {time.perf_counter() - started:.0f} s")
            bench_rules(url, args.spans, args.repeats)
    if args.only in (None, "delay"):
        bench_delay(args.seeds)


if __name__ == "__main__":
    main()
