"""Dashboard overview render time with 1,000,000 spans in SQLite (target: <= 300 ms).

Generates 250,000 traces of 4 spans (root, retriever, LLM call, tool) spread over 30 days
through ``insert_span_rows`` (the writer's and the ingest route's write path, which keeps the
hourly roll-ups), fact checks on 2% of them and thumbs votes on 1%. Then
renders ``GET /?range=7d`` (and ``30d``/``all`` for comparison) through the real app, and
prints each time with its ratio to a baseline measured in the same run: a bare
``SELECT count(*) FROM span``.

    .venv/bin/python benchmarks/bench_dashboard.py [--spans 1000000] [--db path]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from llmmon.config import Settings
from llmmon.server.app import create_app
from llmmon.storage.engine import make_engine
from llmmon.storage.ingest import insert_span_rows
from llmmon.storage.migrate import upgrade_database
from llmmon.storage.models import Span

SPANS_PER_TRACE = 4
COLUMNS = [column.name for column in Span.__table__.columns]  # type: ignore[attr-defined]


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _span_row(**values: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(COLUMNS)
    row.update(io_truncated=False, tokens_estimated=False, is_eval=False, status="ok")
    row.update(values)
    return row


def generate(path: Path, spans: int, *, seed: int = 1, batch: int = 1000) -> None:
    """Fill a migrated SQLite file with ``spans`` spans through the production write path.

    Spans go through ``insert_span_rows`` (what the writer thread and ``POST /v1/traces``
    run) in batches of ``batch`` rows in finishing order -- children before their root, with
    batch boundaries cutting traces -- so the hourly roll-ups are maintained as in production.
    Checks and votes (a few thousand rows) are inserted directly.
    """
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    checks, claims, votes, rows = [], [], [], []

    def flush() -> None:
        with engine.begin() as connection:
            insert_span_rows(connection, rows)
        rows.clear()

    for t in range(spans // SPANS_PER_TRACE):
        trace_id = uuid.UUID(int=rng.getrandbits(128)).hex
        start = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        latency = rng.lognormvariate(6.5, 0.5)
        failed = rng.random() < 0.03
        version = rng.choice(("v1", "v2", "v3"))
        model = rng.choice(("gpt-4o-mini", "gpt-4o-mini", "gpt-4.1"))
        root = uuid.UUID(int=rng.getrandbits(128)).hex[:16]
        end = start + timedelta(milliseconds=latency)
        for name, kind, share in (("retrieve", "retriever", 0.1), ("chat", "llm", 0.8), ("tool", "tool", 0.05)):
            tokens_in, tokens_out = rng.randint(200, 900), rng.randint(20, 300)
            llm = kind == "llm"
            rows.append(
                _span_row(
                    span_id=uuid.UUID(int=rng.getrandbits(128)).hex[:16], trace_id=trace_id, parent_span_id=root,
                    name=name, kind=kind, start_time=start, end_time=end, latency_ms=latency * share,
                    model=model if llm else None, input_tokens=tokens_in if llm else None,
                    output_tokens=tokens_out if llm else None, total_tokens=tokens_in + tokens_out if llm else None,
                    cost_usd=(tokens_in * 0.15 + tokens_out * 0.6) / 1e6 if llm else None,
                )
            )  # fmt: skip
        rows.append(
            _span_row(
                span_id=root, trace_id=trace_id, name="answer", kind="function", start_time=start, end_time=end,
                latency_ms=latency, status="error" if failed else "ok", prompt_name="support-answer",
                prompt_version=version, user_id=f"user-{t % 5000}",
            )
        )  # fmt: skip
        if rng.random() < 0.02:
            checks.append((len(checks) + 1, trace_id, "support", "hallucinated", 1.0, _iso(end)))
            claims.append((len(checks), trace_id, "A claim.", 0, 8, rng.choice(("supported", "contradicted")),
                           "deterministic", "[]", ""))  # fmt: skip
        if rng.random() < 0.01:
            down = rng.random() < 0.2
            votes.append(
                (trace_id, "", None, "down" if down else "up", -1.0 if down else 1.0, "api", _iso(end), _iso(end))
            )
        if len(rows) >= batch:
            flush()
    if rows:
        flush()
    engine.dispose()
    connection = sqlite3.connect(path)
    connection.executemany(
        "INSERT INTO answer_check (id, trace_id, kb_name, verdict, score, created_at) VALUES (?, ?, ?, ?, ?, ?)", checks
    )
    connection.executemany(
        'INSERT INTO claim_check (answer_check_id, trace_id, text, start, "end", verdict, tier, evidence, reason) '
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        claims,
    )
    connection.executemany(
        "INSERT INTO feedback (trace_id, user_key, user_id, value, score, source, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        votes,
    )
    connection.commit()
    connection.execute("ANALYZE")
    connection.close()


def _time(fn: object, repeats: int) -> float:
    """Median wall time in ms of ``fn()`` over ``repeats`` runs (after one warm-up)."""
    assert callable(fn)
    fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None, help="reuse or create this SQLite file")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        path = args.db or Path(scratch) / "bench.db"
        if not path.exists():
            started = time.perf_counter()
            generate(path, args.spans)
            print(f"generated {args.spans:,} spans in {time.perf_counter() - started:.1f} s ({path})")
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        with engine.connect() as connection:
            from sqlalchemy import text

            count = connection.execute(text("SELECT count(*) FROM span")).scalar_one()
            baseline = _time(lambda: connection.execute(text("SELECT count(*) FROM span")).scalar_one(), args.repeats)
        print(f"spans in database: {count:,}")
        print(f"baseline  SELECT count(*) FROM span: {baseline:8.1f} ms")
        app = create_app(Settings(database_url=url, server_no_auth=True), engine=engine)
        with TestClient(app) as client:
            for window in ("7d", "30d", "all"):

                def render(window: str = window) -> None:
                    response = client.get("/", params={"range": window})
                    assert response.status_code == 200, response.text[:300]

                elapsed = _time(render, args.repeats)
                verdict = "ok" if elapsed <= 300 else "OVER 300 ms"
                print(
                    f"overview  range={window:<4}: {elapsed:8.1f} ms  ({elapsed / baseline:5.1f}x baseline)  {verdict}"
                )
        engine.dispose()


if __name__ == "__main__":
    main()
