"""Feedback throughput: POST /v1/feedback on one uvicorn worker with SQLite, loopback only.

Runs the server twice in a subprocess -- group commit (the real server) and a baseline that
commits once per request (``FeedbackWriter(max_batch=1)``) -- drives each with a bounded number
of keep-alive connections for a bounded number of requests, prints req/s, p50/p99 and the
ratio, then checks that every acknowledged vote is in the database.

    .venv/bin/python benchmarks/bench_feedback.py [--requests 20000] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER = r"""
import sys, uvicorn
from llmmon.config import Settings
from llmmon.server.app import create_app
from llmmon.server.feedback_writer import FeedbackWriter
settings = Settings(database_url=sys.argv[1], server_no_auth=True, feedback_rate_per_token=0)
app = create_app(settings)
if sys.argv[3] == "per-request":
    app.state.feedback_writer = FeedbackWriter(app.state.engine, max_batch=1)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="error", loop="uvloop", http="httptools", access_log=False)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _connection(port: int, ids: list[str], latencies: list[float], acknowledged: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for trace_id in ids:
            body = json.dumps({"trace_id": trace_id, "value": "down", "user_id": "bench"}).encode()
            request = (
                b"POST /v1/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if head.startswith(b"HTTP/1.1 200"):
                acknowledged.append(trace_id)
    finally:
        writer.close()


async def _load(port: int, total: int, connections: int, prefix: str) -> tuple[float, list[float], list[str]]:
    latencies: list[float] = []
    acknowledged: list[str] = []
    per = total // connections
    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(
            *(
                _connection(port, [f"{prefix}{c:03d}x{i:06d}" for i in range(per)], latencies, acknowledged)
                for c in range(connections)
            )
        ),
        timeout=300,
    )
    return time.perf_counter() - started, latencies, acknowledged


def _run(mode: str, total: int, connections: int, tmp: Path) -> dict[str, float]:
    db = tmp / f"{mode}.db"
    url = f"sqlite:///{db}"
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, url, str(port), mode])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.1)
        asyncio.run(_load(port, min(500, total), connections, "warm"))  # warm-up
        elapsed, latencies, acknowledged = asyncio.run(_load(port, total, connections, mode[:3]))
    finally:
        process.terminate()
        process.wait(timeout=30)
    with sqlite3.connect(db) as connection:
        stored = {row[0] for row in connection.execute("SELECT trace_id FROM feedback_event")}
    missing = [trace_id for trace_id in acknowledged if trace_id not in stored]
    latencies.sort()
    return {
        "req_s": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "acknowledged": len(acknowledged),
        "missing": len(missing),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--baseline-requests", type=int, default=4_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        baseline = _run("per-request", args.baseline_requests, args.connections, Path(tmp))
        grouped = _run("grouped", args.requests, args.connections, Path(tmp))
    for name, result in (("commit per request (baseline)", baseline), ("group commit (llmmon)", grouped)):
        print(
            f"{name:32s} {result['req_s']:8.0f} req/s  p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms"
            f"  acknowledged {result['acknowledged']:.0f}  missing {result['missing']:.0f}"
        )
    print(f"ratio group/baseline: {grouped['req_s'] / baseline['req_s']:.1f}x  (target >= 4000 req/s, p99 <= 50 ms)")
    if baseline["missing"] or grouped["missing"]:
        raise SystemExit("acknowledged votes missing from the database")


if __name__ == "__main__":
    main()
