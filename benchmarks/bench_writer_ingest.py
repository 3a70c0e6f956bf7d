"""Writer throughput: realistic spans from ``record()`` to committed rows, SQLite and PostgreSQL.

Run: ``.venv/bin/python benchmarks/bench_writer_ingest.py [--spans 100000] [--no-postgres]``

Each span carries a ~500-character prompt as input and a ~300-character answer as output,
so the writer does its full job per span: map arguments, JSON-serialise, redact PII,
price, and bulk-insert idempotently. The clock runs from the first ``record()`` until
``flush()`` reports every span written. The baseline row is the same spans serialised
and redacted only (no database), measured in this run. PostgreSQL uses a throw-away
server from tests/support/pgserver.py (skipped with a message when not available).
Targets (issue 2): >= 30,000 spans/s into SQLite, >= 20,000 spans/s into PostgreSQL.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmmon.config import Settings
from llmmon.tracing.args import CallArgs, param_names
from llmmon.tracing.ids import new_span_id, new_trace_id
from llmmon.tracing.recorder import QueueRecorder
from llmmon.tracing.redact import Redactor
from llmmon.tracing.serialise import SpanSerialiser
from llmmon.tracing.span import SpanRecord

PROMPT = (
    "You are the support assistant of an online store. Answer using only the passages below and cite them. "
    "Passage 1: Orders ship within 2 business days; tracking numbers are emailed once the parcel leaves the "
    "warehouse. Passage 2: Refunds are issued to the original payment method within 5-7 business days after "
    "the return is received. Passage 3: International orders may incur customs fees payable by the customer. "
    "Question: I ordered a jacket on 2024-05-01 (order 12345) and it has not arrived; can I get a refund?"
)[:500]
ANSWER = (
    "I'm sorry your jacket hasn't arrived yet. Orders ship within 2 business days and you should have received "
    "a tracking email. If the parcel is lost, we will issue a refund to your original payment method within "
    "5-7 business days after we confirm it with the carrier. Could you share your order number 12345's email?"
)[:300]


def _answer(question: str, user: str) -> str:
    return ANSWER


_PARAMS = param_names(_answer)


def make_spans(count: int) -> list[SpanRecord]:
    spans = []
    now = time.time_ns()
    for i in range(count):
        span = SpanRecord(
            span_id=new_span_id(), trace_id=new_trace_id(), parent_span_id=None, name="answer",
            kind="function", start_ns=now + i, perf_start_ns=i * 1000,
        )  # fmt: skip
        span.perf_end_ns = i * 1000 + 850_000
        span.input = CallArgs(_PARAMS, (PROMPT, f"user-{i % 100}"), {})
        span.output = ANSWER
        span.user_id = f"user-{i % 100}"
        spans.append(span)
    return spans


def run(label: str, url: str, spool: Path, count: int, baseline: float | None) -> float:
    settings = Settings(
        database_url=url, spool_dir=spool, queue_max_spans=max(count, 1), queue_max_bytes=1 << 34,
        batch_size=2000, flush_interval_s=0.05,
    )  # fmt: skip
    spans = make_spans(count)
    recorder = QueueRecorder(settings)
    # Let the writer start (price table, engine, migrations) before timing: that is one-off.
    for span in make_spans(10):
        recorder.record(span)
    warm = recorder.flush(120)
    start = time.perf_counter()
    for span in spans:
        recorder.record(span)
    result = recorder.flush(600)
    elapsed = time.perf_counter() - start
    recorder.close(60)
    rate = (result.written - warm.written) / elapsed
    ratio = f"  ({rate / baseline:.2f}x of serialise-only)" if baseline else ""
    print(f"{label:<34} {result.written:>8} spans in {elapsed:6.2f} s = {rate:>9,.0f} spans/s{ratio}   {result}")
    return rate


def serialise_only(count: int) -> float:
    serialiser = SpanSerialiser(max_payload_bytes=65_536, redactor=Redactor(), prices=None)
    spans = make_spans(count)
    start = time.perf_counter()
    for span in spans:
        serialiser.to_row(span)
    elapsed = time.perf_counter() - start
    rate = count / elapsed
    print(f"{'serialise + redact only (baseline)':<34} {count:>8} spans in {elapsed:6.2f} s = {rate:>9,.0f} spans/s")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmmon-ingest-"))
    base = serialise_only(args.spans)
    sqlite_rate = run("SQLite (WAL file)", f"sqlite:///{tmp / 'ingest.db'}", tmp / "spool", args.spans, base)
    pg_rate = None
    if not args.no_postgres:
        try:
            from tests.support.pgserver import PostgresServer

            server = PostgresServer(Path(tempfile.mkdtemp(prefix="llmmon-bench-pg-")))
            server.init()
            server.start()
        except (RuntimeError, OSError, Exception) as exc:
            print(f"PostgreSQL                         not available: {exc}")
        else:
            try:
                url = server.create_database("ingest")
                pg_rate = run("PostgreSQL (local server)", url, tmp / "spool", args.spans, base)
            finally:
                server.stop("immediate")
                shutil.rmtree(server.base_dir, ignore_errors=True)
    print("\nSummary")
    print(f"  SQLite     : {sqlite_rate:,.0f} spans/s (target >= 30,000)")
    if pg_rate is not None:
        print(f"  PostgreSQL : {pg_rate:,.0f} spans/s (target >= 20,000)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
