"""Feedback and ingest on both databases (``db_url``: a SQLite file and a real PostgreSQL server).

The live tests run uvicorn on 127.0.0.1 so that votes really arrive concurrently and share
group commits; PostgreSQL going away is tested on a private server that the test stops.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from llmmon.config import Settings
from llmmon.server.app import create_app
from llmmon.server.keys import create_key
from llmmon.storage.engine import make_engine
from llmmon.storage.feedback import feedback_for_trace, feedback_history, priority_traces
from llmmon.storage.migrate import upgrade_database
from tests.server.conftest import LiveServer
from tests.support.pgserver import PostgresServer

TRACE = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0"


@dataclass
class Served:
    settings: Settings
    engine: Engine
    headers: dict[str, str]


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[Served]:
    engine = make_engine(db_url)
    upgrade_database(engine)
    _, key = create_key(engine, scope="ingest")
    settings = Settings(database_url=db_url, server_key_cache_s=0.0, secret_key="k", spool_dir=tmp_path / "spool")
    yield Served(settings, engine, {"Authorization": f"Bearer {key}"})
    engine.dispose()


def _span(span_id: str, trace_id: str = TRACE, **extra: object) -> dict[str, object]:
    return {"span_id": span_id, "trace_id": trace_id, "name": "answer", "start_time": "2026-01-01T10:00:00Z",
            "latency_ms": 4.0, **extra}  # fmt: skip


def _count(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql), params).scalar_one())


def test_votes_replace_keep_history_prioritise_and_join_a_late_trace(served: Served) -> None:
    with TestClient(create_app(served.settings, engine=served.engine)) as client:
        for body in (
            {"trace_id": TRACE, "value": "up", "user_id": "u1"},
            {"trace_id": TRACE, "value": "down", "user_id": "u1", "reason": "wrong"},
            {"trace_id": TRACE, "score": 0.5, "user_id": "u2"},
        ):
            assert client.post("/v1/feedback", json=body, headers=served.headers).status_code == 200
        assert _count(served.engine, "SELECT count(*) FROM span") == 0  # voted before the trace exists
        stored = client.post("/v1/traces", json={"spans": [_span("late-root")]}, headers=served.headers)
        assert stored.status_code == 200
    current = {vote.user_id: (vote.value, vote.score, vote.reason) for vote in feedback_for_trace(served.engine, TRACE)}
    assert current == {"u1": ("down", -1.0, "wrong"), "u2": (None, 0.5, None)}
    assert [vote.value for vote in feedback_history(served.engine, TRACE)] == ["up", "down", None]
    assert priority_traces(served.engine) == [TRACE]
    joined = _count(
        served.engine,
        "SELECT count(*) FROM span s JOIN feedback f ON f.trace_id = s.trace_id WHERE s.span_id = :s",
        s="late-root",
    )
    assert joined == 2


def test_live_concurrent_votes_share_commits_and_duplicates_keep_one_current_vote(served: Served) -> None:
    app = create_app(served.settings, engine=served.engine)
    with LiveServer(app) as server:

        def vote(i: int) -> int:
            body = {"trace_id": f"{TRACE[:-4]}{i % 8:04d}", "value": "up" if i % 3 else "down", "user_id": "same"}
            with httpx.Client(base_url=server.url, timeout=30) as client:
                return client.post("/v1/feedback", json=body, headers=served.headers).status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            codes = list(pool.map(vote, range(96)))
        writer = app.state.feedback_writer
        batches, votes = writer.batches, writer.votes
    assert codes == [200] * 96
    assert votes == 96 and batches < 96  # concurrent votes were committed together
    assert _count(served.engine, "SELECT count(*) FROM feedback_event") == 96
    assert _count(served.engine, "SELECT count(*) FROM feedback") == 8  # one current vote per (trace, user)
    for i in range(8):
        trace_id = f"{TRACE[:-4]}{i:04d}"
        history = feedback_history(served.engine, trace_id)
        assert len(history) == 12
        assert [vote.value for vote in feedback_for_trace(served.engine, trace_id)] == [history[-1].value]


def test_ingest_is_idempotent_and_concurrent_batches_are_all_stored(served: Served) -> None:
    batches = [
        {
            "spans": [
                _span(
                    f"b{b:02d}s{s:03d}",
                    trace_id=f"trace{b:02d}",
                    model="gpt-4o-mini",
                    kind="llm",
                    input_tokens=10,
                    output_tokens=5,
                )
                for s in range(150)
            ]
        }
        for b in range(12)
    ]
    with LiveServer(create_app(served.settings, engine=served.engine)) as server:

        def post(body: dict[str, object]) -> int:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                response = client.post("/v1/traces", json=body, headers=served.headers)
                assert response.json() == {"ok": True, "received": 150}
                return response.status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            codes = list(pool.map(post, batches + batches[:4]))  # four batches sent twice
    assert codes == [200] * 16
    assert _count(served.engine, "SELECT count(*) FROM span") == 12 * 150
    assert _count(served.engine, "SELECT count(*) FROM span WHERE cost_usd > 0") == 12 * 150  # priced on the server
    with TestClient(create_app(served.settings, engine=served.engine)) as client:
        wrong_type = client.post(
            "/v1/traces", content=b"spans=1", headers={**served.headers, "content-type": "text/plain"}
        )
        assert wrong_type.status_code == 422 and "JSON" in wrong_type.json()["error"]
        malformed = client.post(
            "/v1/traces", content=b'{"spans": [', headers={**served.headers, "content-type": "application/json"}
        )
        assert malformed.status_code == 422 and malformed.json()["ok"] is False
    assert _count(served.engine, "SELECT count(*) FROM span") == 12 * 150


@pytest.mark.postgres
def test_postgres_down_gives_503_and_loses_no_acknowledged_vote(tmp_path: Path) -> None:
    try:
        pg = PostgresServer(Path(tempfile.mkdtemp(prefix="llmmon-pg-server-")))
        pg.init()
        pg.start()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        url = pg.create_database("votes")
        settings = Settings(database_url=url, server_no_auth=True, spool_dir=tmp_path / "spool")
        acknowledged: list[str] = []
        with LiveServer(create_app(settings)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
            for name in ("before1", "before2"):
                assert client.post("/v1/feedback", json={"trace_id": name, "value": "up"}).status_code == 200
                acknowledged.append(name)
            pg.stop("fast")
            down = client.post("/v1/feedback", json={"trace_id": "during", "value": "down"})
            assert down.status_code == 503, down.text
            assert down.json()["ok"] is False and "database unavailable" in down.json()["error"]
            assert down.headers["retry-after"] == "1"
            pg.start()
            for name in ("after1", "after2"):
                assert client.post("/v1/feedback", json={"trace_id": name, "value": "up"}).status_code == 200
                acknowledged.append(name)
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                stored = set(connection.execute(text("SELECT trace_id FROM feedback_event")).scalars())
        finally:
            engine.dispose()
        assert stored == set(acknowledged)
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            pg.stop("immediate")
        shutil.rmtree(pg.base_dir, ignore_errors=True)


def test_concurrent_ingest_batches_share_one_transaction_and_share_its_failure(served: Served, tmp_path: Path) -> None:
    from llmmon.server.routes.ingest import _IngestStore
    from llmmon.server.spans_in import SpanIn, span_rows

    def rows(prefix: str) -> list[dict[str, object]]:
        return span_rows([SpanIn.model_validate(_span(f"{prefix}{i}", trace_id=prefix)) for i in range(5)])

    store = _IngestStore()
    results: dict[str, object] = {}

    def post(prefix: str, engine: Engine) -> None:
        try:
            results[prefix] = store.store(engine, None, rows(prefix))
        except Exception as exc:
            results[prefix] = exc

    def three_at_once(engine: Engine, prefixes: tuple[str, ...]) -> None:
        with store._write_lock:  # a commit in progress: the three requests queue up behind it
            threads = [threading.Thread(target=post, args=(prefix, engine)) for prefix in prefixes]
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + 10
            while len(store._queue) < len(prefixes) and time.monotonic() < deadline:
                time.sleep(0.01)
        for thread in threads:
            thread.join(timeout=30)

    three_at_once(served.engine, ("a", "b", "c"))
    assert results == {"a": 5, "b": 5, "c": 5}
    assert store.transactions == 1  # the first to get the lock wrote all three
    assert _count(served.engine, "SELECT count(*) FROM span") == 15

    broken = make_engine(f"sqlite:///{tmp_path}")  # a directory cannot be opened as a database: every request fails
    try:
        three_at_once(broken, ("d", "e", "f"))
    finally:
        broken.dispose()
    assert all(isinstance(results[prefix], Exception) for prefix in ("d", "e", "f"))
    assert store.transactions == 1 and _count(served.engine, "SELECT count(*) FROM span") == 15
