"""`llmmon serve` and `llmmon demo --serve` as real subprocesses on 127.0.0.1 (bounded in time, always stopped)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from llmmon.server.keys import create_key
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from tests.support.net import free_port

LLMMON = [sys.executable, "-m", "llmmon"]
ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LLMMON_")}
    env.update(
        COLUMNS="200",  # rich wraps at 80 columns otherwise
        PYTHONPATH=str(ROOT),
        LLMMON_SPOOL_DIR=str(tmp_path / "spool"),
        LLMMON_SECRET_KEY="cli-test-secret",
    )
    return env


@contextmanager
def _running(args: list[str], tmp_path: Path, port: int, *, timeout: float = 60.0) -> Iterator[subprocess.Popen[str]]:
    """Start ``llmmon args`` in its own process group, wait until ``port`` accepts, stop it afterwards."""
    log = (tmp_path / f"out-{port}.txt").open("w+")
    process = subprocess.Popen(
        [*LLMMON, *args], cwd=tmp_path, env=_env(tmp_path), stdout=log, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"llmmon {' '.join(args)} did not start listening:\n{log.read()}")
                time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()


def _output(tmp_path: Path, port: int) -> str:
    return (tmp_path / f"out-{port}.txt").read_text()


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp*), e.g. {"127.0.0.1"}."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, _, port_hex = fields[1].partition(":")
            if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                if len(address) == 8:
                    addresses.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
                else:
                    addresses.add(address)
    return addresses


def test_serve_no_auth_binds_loopback_only_and_says_so(tmp_path: Path) -> None:
    port = free_port()
    args = ["serve", "--no-auth", "--host", "0.0.0.0", "--port", str(port), "--db", str(tmp_path / "s.db")]
    with _running(args, tmp_path, port):
        if Path("/proc/net/tcp").exists():
            assert _listening_addresses(port) == {"127.0.0.1"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            vote = client.post("/v1/feedback", json={"trace_id": "abc", "value": "up"})
            assert vote.status_code == 200  # no key needed
            assert client.get("/metrics").status_code == 200
    output = _output(tmp_path, port)
    assert "binding to 127.0.0.1 only (not 0.0.0.0)" in output
    assert "Authentication is OFF" in output and f"http://127.0.0.1:{port} only" in output


def test_serve_with_two_workers_serves_from_both_processes_and_needs_keys(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade_database(engine)
    _, key = create_key(engine, scope="admin")
    engine.dispose()
    port = free_port()
    with _running(["serve", "--workers", "2", "--port", str(port), "--db", str(db)], tmp_path, port) as process:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        if children.exists():
            deadline = time.monotonic() + 30
            while len(children.read_text().split()) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(children.read_text().split()) >= 2
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert client.get("/metrics").status_code == 401
            for i in range(20):
                response = client.post("/v1/feedback", json={"trace_id": f"w{i}", "value": "down"}, headers=auth)
                assert response.status_code == 200, response.text
            assert client.get("/metrics", headers=auth).status_code == 200
    assert "API keys required" in _output(tmp_path, port)
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM feedback_event").scalar_one() == 20
    finally:
        engine.dispose()


def test_demo_serve_serves_the_dashboard_after_the_demo(tmp_path: Path) -> None:
    port = free_port()
    args = ["demo", "--questions", "12", "--serve", "--port", str(port), "--db", str(tmp_path / "demo.db")]
    with (
        _running(args, tmp_path, port, timeout=120),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        page = client.get("/")
        traces = client.get("/v1/traces")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert traces.status_code == 200  # the JSON API is up too, without a key
    output = _output(tmp_path, port)
    assert "Asked 12 questions" in output and "Authentication is OFF" in output
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        with engine.connect() as connection:
            roots = connection.exec_driver_sql("SELECT count(*) FROM span WHERE parent_span_id IS NULL").scalar_one()
    finally:
        engine.dispose()
    assert roots >= 12  # the dashboard serves what the demo recorded
