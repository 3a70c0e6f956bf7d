"""Benchmark: the monitor's metric set over N spans (default 1,000,000) on a SQLite file.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_metrics.py [--spans 1000000] [--db path]

Writes N/2 traces (a root span + an LLM span each) spread over 7 days, then times 20
``compute_metric`` calls like the default alert rules (1-hour and 1-day windows, grouped and
not). Baseline measured in the same run: ``repo.span_stats`` over the same day. Target: the
20 rules in <= 2 s in total.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from llmmon.monitor.metrics import compute_metric
from llmmon.storage import repo
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from tests.monitor.metrics_traffic import BASE, mixed_traffic, store

RULES = [
    ("latency_p99", "1h", None),
    ("latency_p99", "1d", "model"),
    ("latency_p50", "1h", None),
    ("latency_p90", "1d", "prompt_version"),
    ("ttft_p99", "1h", None),
    ("error_rate", "1h", None),
    ("error_rate", "1d", "model"),
    ("cost_total", "1d", None),
    ("cost_per_answer", "1d", "model"),
    ("tokens_per_answer", "1d", None),
    ("hallucination_rate", "1h", None),
    ("hallucination_rate", "1d", "prompt_version"),
    ("unsupported_claim_rate", "1d", None),
    ("thumbs_down_rate", "1h", None),
    ("thumbs_down_rate", "1d", "model"),
    ("regeneration_rate", "1h", None),
    ("judge_human_kappa", "1d", None),
    ("volume", "1h", None),
    ("volume", "1d", "metadata:tier"),
    ("error_rate", "1h", "prompt_version"),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None)
    args = parser.parse_args()
    path = args.db or Path(tempfile.mkdtemp()) / "bench.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    traces = args.spans // 2
    t0 = time.perf_counter()
    chunk = 20_000
    for i in range(0, traces, chunk):
        batch = mixed_traffic(seed=i // chunk, n=min(chunk, traces - i), start=BASE, hours=24 * 7)
        store(engine, batch, eval_noise=False)
    print(f"wrote {traces * 2} spans in {time.perf_counter() - t0:.1f} s ({path})")
    end = BASE + timedelta(days=7)
    t0 = time.perf_counter()
    repo.span_stats(engine, group_by="model", since=end - timedelta(days=1), until=end)
    baseline = time.perf_counter() - t0
    total = 0.0
    for name, window, by in RULES:
        length = timedelta(hours=1) if window == "1h" else timedelta(days=1)
        t0 = time.perf_counter()
        compute_metric(engine, name, start=end - length, end=end, group_by=by)
        elapsed = time.perf_counter() - t0
        total += elapsed
        print(f"  {name:24s} {window:3s} by {by or '-':15s} {elapsed * 1000:8.1f} ms")
    print(f"baseline span_stats(1d, by model): {baseline * 1000:.1f} ms")
    print(f"20 rules: {total:.2f} s (target <= 2 s; {total / baseline:.1f}x the baseline)")
    engine.dispose()


if __name__ == "__main__":
    main()
