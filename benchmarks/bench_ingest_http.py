"""Trace ingest over HTTP: spans/s through ``POST /v1/traces`` on one uvicorn worker with SQLite, loopback only.

Spans look like the recorder's rows (every column; a ~500-character prompt as input, a
~300-character answer as output, model and tokens), posted in batches (default 500 spans)
by a few keep-alive connections with an ``ingest`` API key -- what the SDK in remote mode
sends. The bodies are built before the clock starts, so the client costs next to nothing.
The baseline row is the same rows inserted in-process with ``insert_span_rows`` (one
transaction per batch) into another SQLite file, measured in the same run: the ratio says
what the HTTP path costs on top of the storage itself. Afterwards every acknowledged span is
counted in the database. Target (issue 5): >= 20,000 spans/s. ``--postgres`` repeats both rows on
a throw-away PostgreSQL server (tests/support/pgserver.py).

    .venv/bin/python benchmarks/bench_ingest_http.py [--spans 100000] [--batch 500] [--connections 4] [--postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from llmmon.server.keys import create_key
from llmmon.storage.engine import make_engine
from llmmon.storage.ingest import insert_span_rows
from llmmon.storage.migrate import upgrade_database
from tests.support.net import free_port

SERVER = r"""
import sys, uvicorn
from llmmon.config import Settings
from llmmon.server.app import create_app
settings = Settings(database_url=sys.argv[1], server_key_cache_s=60)
app = create_app(settings, freeze_gc=True)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="error", loop="uvloop", http="httptools",
            access_log=False, lifespan="on")
"""

PROMPT = json.dumps(
    [
        {"role": "system", "content": "You are the support assistant of an online store. Cite the passages."},
        {
            "role": "user",
            "content": (
                "Passage 1: Orders ship within 2 business days; tracking numbers are emailed once the parcel "
                "leaves the warehouse. Passage 2: Refunds are issued to the original payment method within 5-7 "
                "business days after the return is received. Question: my jacket (order 12345) has not arrived; "
                "can I get a refund?"
            ),
        },
    ]
)
ANSWER = json.dumps(
    "I'm sorry your jacket hasn't arrived yet. Orders ship within 2 business days and you should have received "
    "a tracking email. If the parcel is lost we refund the original payment method within 5-7 business days."
)


def make_rows(count: int, prefix: str) -> list[dict[str, Any]]:
    """Recorder-shaped rows with distinct span ids (``prefix`` keeps runs apart)."""
    start = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
    rows = []
    for i in range(count):
        begin = start + dt.timedelta(milliseconds=i)
        rows.append(
            {
                "span_id": f"{prefix}{i:015x}", "trace_id": f"t{prefix}{i // 3:014x}",
                "parent_span_id": None if i % 3 == 0 else f"{prefix}{i - i % 3:015x}",
                "name": "chat gpt-4o-mini", "kind": "llm", "start_time": begin,
                "end_time": begin + dt.timedelta(milliseconds=840), "latency_ms": 840.0, "ttft_ms": 210.0,
                "status": "ok", "error_type": None, "error_message": None, "input": PROMPT, "output": ANSWER,
                "io_truncated": False, "user_id": f"user{i % 100}", "session_id": f"s{i % 1000}",
                "tags": '["support"]', "attributes": '{"temperature":0}', "prompt_name": "support-answer",
                "prompt_version": "v2", "prompt_hash": "3f2a9c0d1e2b4a5f", "model": "gpt-4o-mini",
                "provider": "openai", "input_tokens": 412, "output_tokens": 61, "cached_tokens": 0,
                "reasoning_tokens": None, "total_tokens": 473, "tokens_estimated": False, "cost_usd": 0.0000984,
                "is_eval": False,
            }
        )  # fmt: skip
    return rows


def _bodies(rows: list[dict[str, Any]], batch: int) -> list[bytes]:
    def default(value: Any) -> Any:
        return value.isoformat()

    return [
        json.dumps({"spans": rows[start : start + batch]}, default=default, separators=(",", ":")).encode()
        for start in range(0, len(rows), batch)
    ]


def _post_all(port: int, key: str, bodies: list[bytes], connections: int) -> tuple[float, int, list[str]]:
    """Post every body over ``connections`` keep-alive connections; (seconds, spans acknowledged, errors)."""
    lock = threading.Lock()
    queue = list(reversed(bodies))
    acknowledged = [0]
    errors: list[str] = []

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                connection.request("POST", "/v1/traces", body=body, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                with lock:
                    if response.status == 200:
                        acknowledged[0] += json.loads(payload)["received"]
                    else:
                        errors.append(f"{response.status} {payload[:200]!r}")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return time.perf_counter() - started, acknowledged[0], errors


def _count_spans(url: str, prefix: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            statement = text("SELECT count(*) FROM span WHERE span_id LIKE :pattern")
            count: int = connection.execute(statement, {"pattern": f"{prefix}%"}).scalar_one()
    finally:
        engine.dispose()
    return count


def run_http(args: argparse.Namespace, url: str) -> dict[str, float]:
    engine = make_engine(url)
    upgrade_database(engine)
    _, key = create_key(engine, scope="ingest", name="bench")
    engine.dispose()
    warm = _bodies(make_rows(args.batch * 4, "w"), args.batch)
    bodies = _bodies(make_rows(args.spans, "h"), args.batch)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port)])
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.1)
        _post_all(port, key, warm, args.connections)
        seconds, acknowledged, errors = _post_all(port, key, bodies, args.connections)
    finally:
        process.terminate()
        process.wait(timeout=60)
    stored = _count_spans(url, "h")
    if errors:
        print(f"  {len(errors)} failed requests, first: {errors[0]}")
    return {"spans_s": acknowledged / seconds, "seconds": seconds, "acknowledged": acknowledged, "stored": stored}


def run_direct(args: argparse.Namespace, url: str) -> dict[str, float]:
    engine = make_engine(url)
    try:
        upgrade_database(engine)
        rows = make_rows(args.spans, "d")
        started = time.perf_counter()
        for start in range(0, len(rows), args.batch):
            with engine.begin() as connection:
                insert_span_rows(connection, rows[start : start + args.batch])
        seconds = time.perf_counter() - started
        with engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT count(*) FROM span").scalar_one()
    finally:
        engine.dispose()
    return {"spans_s": len(rows) / seconds, "seconds": seconds, "acknowledged": len(rows), "stored": stored}


def _report(database: str, direct: dict[str, float], over_http: dict[str, float]) -> None:
    for name, result in (("insert_span_rows in-process (baseline)", direct), ("POST /v1/traces", over_http)):
        print(
            f"{database:10s} {name:40s} {result['spans_s']:8.0f} spans/s  {result['seconds']:6.2f} s"
            f"  acknowledged {result['acknowledged']:.0f}  stored {result['stored']:.0f}"
        )
    print(f"{database:10s} ratio http/baseline: {over_http['spans_s'] / direct['spans_s']:.2f}")
    if over_http["stored"] < over_http["acknowledged"]:
        raise SystemExit("acknowledged spans missing from the database")


def _with_postgres(run: Callable[[Callable[[str], str]], None]) -> None:
    from tests.support.pgserver import PostgresServer

    server = PostgresServer(Path(tempfile.mkdtemp(prefix="llmmon-bench-pg-")))
    try:
        server.init()
        server.start()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        print(f"postgresql skipped: {exc}")
        shutil.rmtree(server.base_dir, ignore_errors=True)
        return
    try:
        run(server.create_database)
    finally:
        server.stop("fast")
        shutil.rmtree(server.base_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--postgres", action="store_true", help="also measure on a throw-away PostgreSQL server")
    args = parser.parse_args()
    print(f"{args.spans} spans in batches of {args.batch}, {args.connections} connections, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        direct = run_direct(args, f"sqlite:///{Path(tmp) / 'direct.db'}")
        over_http = run_http(args, f"sqlite:///{Path(tmp) / 'http.db'}")
    _report("sqlite", direct, over_http)
    if args.postgres:

        def on_postgres(create_database: Callable[[str], str]) -> None:
            _report("postgresql", run_direct(args, create_database("direct")), run_http(args, create_database("http")))

        _with_postgres(on_postgres)
    print(f"target >= 20000 spans/s over HTTP (load after: {os.getloadavg()})")


if __name__ == "__main__":
    main()
