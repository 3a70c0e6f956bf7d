"""Evaluation worker throughput: tier-1 fact checks per second, worker vs a bare FactChecker loop.

    python benchmarks/bench_worker.py                     # 5,000 traces, demo KB, SQLite file
    python benchmarks/bench_worker.py --traces 20000 --batch 500
    python benchmarks/bench_worker.py --db postgresql+psycopg://user@127.0.0.1/db   # an empty database

The worker's number includes everything it does per trace: discovery (anti-join into eval_job),
claiming under a lease, reading the spans, tier 1, and the fenced transaction that stores the
AnswerCheck/ClaimCheck rows and the job states. The baseline runs ``FactChecker.check`` on the
same answers in the same process, so the ratio says what the bookkeeping costs. Target: >= 200 traces/s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmmon.checks.factcheck import FactChecker  # noqa: E402
from llmmon.knowledge.index import load_index  # noqa: E402
from llmmon.knowledge.store import ingest_paths  # noqa: E402
from llmmon.monitor.worker import Worker, WorkerConfig  # noqa: E402
from llmmon.storage.engine import make_engine  # noqa: E402
from llmmon.storage.migrate import upgrade_database  # noqa: E402
from llmmon.storage.models import Span  # noqa: E402

CASES = [
    ("When is the store open on Saturday?", "On Saturday the store opens at 11 AM and closes at 6 PM."),
    ("When is the store open on Saturday?", "On Saturday the store opens at 8 AM and closes at 6 PM."),
    ("Is the store open on Sunday?", "No, the store is closed on Sunday."),
    ("How long is the warranty?", "Lumen products come with a two-year warranty from the date of purchase."),
    ("Can I return an opened item?", "Yes, you can return it within 30 days if you have the receipt."),
    ("When does customer service answer?", "Phone support is available Monday to Friday from 9:00 AM to 6:00 PM."),
]


def _spans(count: int) -> list[dict[str, object]]:
    base = datetime.now(UTC) - timedelta(hours=2)
    rows: list[dict[str, object]] = []
    for i in range(count):
        question, answer = CASES[i % len(CASES)]
        trace_id = hashlib.md5(f"trace-{i}".encode()).hexdigest()
        start = base + timedelta(milliseconds=i)
        root = {
            "span_id": hashlib.md5(f"root-{i}".encode()).hexdigest(),
            "trace_id": trace_id,
            "parent_span_id": None,
            "name": "answer",
            "kind": "function",
            "start_time": start,
            "end_time": start + timedelta(milliseconds=700),
            "latency_ms": 700.0,
            "status": "ok",
            "input": json.dumps({"question": question}),
            "output": json.dumps(answer),
            "prompt_name": "support-answer",
            "prompt_version": "v1",
            "model": None,
        }
        llm = {**root, "span_id": hashlib.md5(f"llm-{i}".encode()).hexdigest(), "parent_span_id": root["span_id"]}
        llm.update(kind="llm", name="chat", model="gpt-4o-mini", prompt_name=None, prompt_version=None)
        rows += [root, llm]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--db", default=None, help="An empty database URL (default: a temporary SQLite file)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        upgrade_database(engine)
        ingest_paths(engine, "support", [ROOT / "examples" / "support_bot" / "kb"])
        rows = _spans(args.traces)
        with engine.begin() as connection:
            for start in range(0, len(rows), 5000):
                connection.execute(insert(Span.__table__), rows[start : start + 5000])  # type: ignore[attr-defined]

        checker = FactChecker(load_index(engine, "support"))
        answers = [CASES[i % len(CASES)] for i in range(args.traces)]
        started = time.perf_counter()
        for question, answer in answers:
            checker.check(answer, question=question)
        bare = args.traces / (time.perf_counter() - started)

        config = WorkerConfig(kb_name="support", batch_size=args.batch, judge_share=0.0, new_version_hours=0.0)
        worker = Worker(engine, config)
        started = time.perf_counter()
        report = worker.run_until_idle()
        elapsed = time.perf_counter() - started
        engine.dispose()
    assert report.checked == args.traces, report
    rate = args.traces / elapsed
    database = "PostgreSQL" if args.db and args.db.startswith("postgres") else "SQLite"
    print(f"{args.traces} traces, batch {args.batch}, {database}, demo KB ({len(checker.index)} passages)")  # type: ignore[arg-type]
    print(f"bare FactChecker loop : {bare:8.0f} traces/s")
    print(f"worker (tier 1 + DB)  : {rate:8.0f} traces/s  ({elapsed:.2f} s)")
    print(f"ratio worker/bare     : {rate / bare:8.2f}")
    print(f"target >= 200 traces/s: {'met' if rate >= 200 else 'MISSED'}")


if __name__ == "__main__":
    main()
