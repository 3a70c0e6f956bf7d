"""Feedback throughput: POST /v1/feedback on one uvicorn worker with SQLite, loopback only.

Runs the server twice in a subprocess -- a baseline that commits once per request
(``FeedbackWriter(max_batch=1)``) and the real server (group commit) -- and drives each for a
bounded time with ``wrk`` (C, so the load generator does not compete with the server for the
interpreter; ``apt-get install wrk``) or, without wrk or with ``--generator python``, a bounded
asyncio generator. Every request carries a distinct trace id; the ids the server acknowledged
(200) are written down by the generator and afterwards looked up in the database: an
acknowledged vote that is missing fails the run.

    .venv/bin/python benchmarks/bench_feedback.py [--duration 10] [--connections 64] [--generator wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmmon.server.keys import create_key
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from tests.support.net import free_port

SERVER = r"""
import sys, uvicorn
from llmmon.config import Settings
from llmmon.server.app import create_app
from llmmon.server.feedback_writer import FeedbackWriter
settings = Settings(database_url=sys.argv[1], server_no_auth=sys.argv[4] == "none", feedback_rate_per_token=0)
app = create_app(settings, freeze_gc=True)
if sys.argv[3] == "per-request":
    app.state.feedback_writer = FeedbackWriter(app.state.engine, max_batch=1)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="error", loop="uvloop", http="httptools",
            access_log=False, lifespan="on")
"""

# One wrk thread per -t; each numbers its requests, writes the acknowledged trace ids to its
# own file (line-buffered, so nothing is lost when wrk exits) and the main state prints JSON.
WRK_SCRIPT = r"""
local threads = {}
local next_tid = 0
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end
function init(args)
  counter = 0
  failed = 0
  prefix = args[2] .. tid .. "x"
  headers = {["Content-Type"] = "application/json"}
  if args[3] ~= nil and args[3] ~= "" then headers["Authorization"] = "Bearer " .. args[3] end
  ackfile = io.open(args[1] .. "/ack-" .. tid .. ".txt", "w")
  ackfile:setvbuf("line")
end
function request()
  counter = counter + 1
  local body = '{"trace_id":"' .. prefix .. counter .. '","value":"down","user_id":"bench"}'
  return wrk.format("POST", "/v1/feedback", headers, body)
end
function response(status, headers, body)
  if status == 200 then
    ackfile:write(body:match('"trace_id":"([^"]+)"'), "\n")
  else
    failed = failed + 1
  end
end
function done(summary, latency, requests)
  local failed_total = 0
  for _, thread in ipairs(threads) do failed_total = failed_total + thread:get("failed") end
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "socket_errors": %d, "non_200": %d, '
    .. '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    failed_total, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start") from None
            time.sleep(0.1)


def _wrk(
    port: int, *, duration: float, connections: int, threads: int, workdir: Path, prefix: str, key: str
) -> dict[str, float]:
    script = workdir / "feedback.lua"
    script.write_text(WRK_SCRIPT)
    acks = workdir / f"acks-{prefix}"
    acks.mkdir()
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s",
        "-s", str(script), f"http://127.0.0.1:{port}", "--", str(acks), prefix, key,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    acknowledged = [ack for path in sorted(acks.iterdir()) for ack in path.read_text().split()]
    return {
        "requests": result["requests"],
        "seconds": result["duration_us"] / 1e6,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "max_ms": result["max_us"] / 1000,
        "errors": result["socket_errors"] + result["non_200"],
        "acknowledged_ids": acknowledged,  # type: ignore[dict-item]
    }


async def _python_connection(
    port: int, prefix: str, key: str, stop_at: float, latencies: list[float], acked: list[str]
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    errors = 0
    counter = 0
    auth = f"Authorization: Bearer {key}\r\n".encode() if key else b""
    try:
        while time.perf_counter() < stop_at:
            counter += 1
            trace_id = f"{prefix}{counter}"
            body = json.dumps({"trace_id": trace_id, "value": "down", "user_id": "bench"}).encode()
            request = (
                b"POST /v1/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + auth
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
                acked.append(trace_id)
            else:
                errors += 1
    finally:
        writer.close()
    return errors


async def _python_load(port: int, *, duration: float, connections: int, prefix: str, key: str) -> dict[str, float]:
    latencies: list[float] = []
    acked: list[str] = []
    started = time.perf_counter()
    errors = await asyncio.wait_for(
        asyncio.gather(
            *(
                _python_connection(port, f"{prefix}{c}x", key, started + duration, latencies, acked)
                for c in range(connections)
            )
        ),
        timeout=duration + 60,
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "max_ms": latencies[-1] * 1000,
        "errors": sum(errors),
        "acknowledged_ids": acked,  # type: ignore[dict-item]
    }


def _python_generator(port: int, *, duration: float, connections: int, prefix: str, key: str) -> dict[str, float]:
    load = _python_load(port, duration=duration, connections=connections, prefix=prefix, key=key)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(load)
    return uvloop.run(load)


def _run(mode: str, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    db = tmp / f"{mode}.db"
    key = ""
    if args.auth == "key":  # an ingest key in the database before the server starts
        engine = make_engine(f"sqlite:///{db}")
        upgrade_database(engine)
        key = create_key(engine, scope="ingest", name="bench")[1]
        engine.dispose()
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, f"sqlite:///{db}", str(port), mode, args.auth])
    try:
        _wait_listening(port, process)
        connections = args.connections
        if args.generator == "wrk":
            options = {"connections": connections, "threads": args.threads, "workdir": tmp, "key": key}
            _wrk(port, duration=2, **options, prefix=f"w{mode[0]}")  # type: ignore[arg-type]
            result = _wrk(port, duration=args.duration, **options, prefix=mode[0])  # type: ignore[arg-type]
        else:
            _python_generator(port, duration=2, connections=connections, prefix=f"w{mode[0]}", key=key)
            result = _python_generator(port, duration=args.duration, connections=connections, prefix=mode[0], key=key)
    finally:
        process.terminate()
        process.wait(timeout=60)
    acknowledged: list[str] = result.pop("acknowledged_ids")  # type: ignore[assignment]
    with sqlite3.connect(db) as connection:
        stored = {row[0] for row in connection.execute("SELECT trace_id FROM feedback_event")}
        current = connection.execute("SELECT count(*) FROM feedback").fetchone()[0]
    connection.close()
    result["req_s"] = result["requests"] / result["seconds"]
    result["acknowledged"] = len(acknowledged)
    result["missing"] = sum(1 for trace_id in acknowledged if trace_id not in stored)
    result["current_votes"] = current
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per server (after 2 s warm-up)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--generator", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--auth", choices=("key", "none"), default="key", help="an ingest API key, or --no-auth")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    print(
        f"generator {args.generator}, auth {args.auth}, {args.connections} connections, {args.duration:g} s,"
        f" load {os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        if not args.skip_baseline:
            rows.append(("commit per request (baseline)", _run("per-request", args, Path(tmp))))
        rows.append(("group commit (llmmon)", _run("grouped", args, Path(tmp))))
    for name, result in rows:
        print(
            f"{name:30s} {result['req_s']:7.0f} req/s  p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms"
            f"  max {result['max_ms']:6.0f} ms  acknowledged {result['acknowledged']:.0f}"
            f"  errors {result['errors']:.0f}  missing {result['missing']:.0f}"
        )
    grouped = rows[-1][1]
    if len(rows) == 2:
        print(f"ratio group/baseline: {grouped['req_s'] / rows[0][1]['req_s']:.1f}x", end="  ")
    print(f"(target >= 4000 req/s, p99 <= 50 ms; load after: {os.getloadavg()})")
    if any(result["missing"] for _, result in rows):
        raise SystemExit("acknowledged votes missing from the database")


if __name__ == "__main__":
    main()
