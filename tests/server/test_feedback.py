"""POST /v1/feedback: votes, replacement with history, late traces, tokens, keys, limits, faults."""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading
import time
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

import llmmon
from llmmon.server.app import create_app
from llmmon.server.keys import create_key, revoke_key
from llmmon.server.tokens import make_feedback_token
from llmmon.storage.feedback import feedback_for_trace, feedback_history, priority_traces
from llmmon.storage.models import FeedbackEvent
from tests.server.conftest import LiveServer, ServerHarness, make_settings

TRACE = "0123456789abcdef0123456789abcdef"
SECRET = b"test-secret-key"


def _span(span_id: str, trace_id: str = TRACE) -> dict[str, object]:
    return {
        "span_id": span_id,
        "trace_id": trace_id,
        "name": "answer",
        "start_time": "2026-01-01T10:00:00Z",
        "latency_ms": 12.5,
    }


def test_feedback_vote_is_stored_and_second_vote_replaces_first_with_history(harness: ServerHarness) -> None:
    first = harness.client.post(
        "/v1/feedback", json={"trace_id": TRACE, "value": "up", "user_id": "u1"}, headers=harness.auth("ingest")
    )
    assert first.status_code == 200, first.text
    assert first.json() == {"ok": True, "trace_id": TRACE, "user_id": "u1", "value": "up", "score": 1.0}
    second = harness.client.post(
        "/v1/feedback",
        json={"trace_id": TRACE, "value": "down", "user_id": "u1", "comment": "wrong price", "reason": "factual"},
        headers=harness.auth("ingest"),
    )
    assert second.status_code == 200
    current = feedback_for_trace(harness.engine, TRACE)
    assert [(vote.user_id, vote.value, vote.score, vote.comment) for vote in current] == [
        ("u1", "down", -1.0, "wrong price")
    ]
    assert [vote.value for vote in feedback_history(harness.engine, TRACE)] == ["up", "down"]
    assert priority_traces(harness.engine) == [TRACE]


def test_feedback_score_only_and_other_users_are_separate(harness: ServerHarness) -> None:
    for user, score in (("a", 0.5), ("b", -0.25)):
        response = harness.client.post(
            "/v1/feedback", json={"trace_id": TRACE, "score": score, "user_id": user}, headers=harness.auth("admin")
        )
        assert response.status_code == 200
    assert sorted((v.user_id, v.score, v.value) for v in feedback_for_trace(harness.engine, TRACE)) == [
        ("a", 0.5, None),
        ("b", -0.25, None),
    ]
    assert priority_traces(harness.engine) == [TRACE]  # a negative score counts as thumbs-down


def test_feedback_before_trace_is_accepted_and_joined_when_trace_lands(harness: ServerHarness) -> None:
    response = harness.client.post(
        "/v1/feedback", json={"trace_id": TRACE, "value": "down"}, headers=harness.auth("ingest")
    )
    assert response.status_code == 200
    with harness.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM span WHERE trace_id = :t"), {"t": TRACE}).scalar() == 0
    ingest = harness.client.post("/v1/traces", json={"spans": [_span("root1")]}, headers=harness.auth("ingest"))
    assert ingest.status_code == 200
    with harness.engine.connect() as connection:
        joined = connection.execute(
            text(
                "SELECT s.name, f.value FROM span s JOIN feedback f ON f.trace_id = s.trace_id"
                " WHERE s.parent_span_id IS NULL"
            )
        ).all()
    assert [tuple(row) for row in joined] == [("answer", "down")]


def test_feedback_bad_bodies_get_422_in_the_error_shape(harness: ServerHarness) -> None:
    cases = [
        ({"trace_id": TRACE}, "value"),
        ({"trace_id": TRACE, "value": "meh"}, "value"),
        ({"trace_id": TRACE, "score": 2}, "score"),
        ({"trace_id": TRACE, "score": "high"}, "score"),
        ({"trace_id": 12, "value": "up"}, "trace_id"),
        ({"trace_id": TRACE, "value": "up", "admin": True}, "admin"),
        ({"trace_id": "x" * 33, "value": "up"}, "trace_id"),
        ({"trace_id": "'; DROP TABLE feedback; --", "value": "up"}, "trace_id"),
        ([1, 2], "body"),
    ]
    for body, field in cases:
        response = harness.client.post("/v1/feedback", json=body, headers=harness.auth("ingest"))
        assert response.status_code == 422, body
        payload = response.json()
        assert set(payload) == {"ok", "error", "status"} and payload["ok"] is False and payload["status"] == 422
        assert field in payload["error"], (body, payload)
    malformed = harness.client.post(
        "/v1/feedback",
        content=b'{"trace_id": "abc", "value": ',
        headers={**harness.auth("ingest"), "content-type": "application/json"},
    )
    assert malformed.status_code == 422 and malformed.json()["ok"] is False
    with harness.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM feedback_event")).scalar() == 0


def test_feedback_credentials_missing_revoked_wrong_scope(harness: ServerHarness, server_engine: Engine) -> None:
    body = {"trace_id": TRACE, "value": "up"}
    missing = harness.client.post("/v1/feedback", json=body)
    assert missing.status_code == 401 and missing.json()["status"] == 401
    unknown = harness.client.post("/v1/feedback", json=body, headers={"Authorization": "Bearer llmk_nope_nope"})
    assert unknown.status_code == 401
    record, key = create_key(server_engine, scope="ingest")
    assert harness.client.post("/v1/feedback", json=body, headers={"X-Llmmon-Key": key}).status_code == 200
    assert revoke_key(server_engine, record.id)
    revoked = harness.client.post("/v1/feedback", json=body, headers={"X-Llmmon-Key": key})
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]
    read_only = harness.client.post("/v1/feedback", json=body, headers=harness.auth("read"))
    assert read_only.status_code == 403


def test_feedback_token_accepts_own_trace_and_rejects_forged_expired_and_other_trace(harness: ServerHarness) -> None:
    token = llmmon.feedback_token(TRACE, settings=harness.settings)
    ok = harness.client.post("/v1/feedback", json={"trace_id": TRACE, "value": "up", "token": token})
    assert ok.status_code == 200
    other = harness.client.post("/v1/feedback", json={"trace_id": "f" * 32, "value": "up", "token": token})
    assert other.status_code == 403 and "another trace" in other.json()["error"]
    forged = make_feedback_token(b"attacker-secret", TRACE, ttl_s=600)
    assert (
        harness.client.post("/v1/feedback", json={"trace_id": TRACE, "value": "up", "token": forged}).status_code == 403
    )
    expired = make_feedback_token(SECRET, TRACE, ttl_s=60, now=time.time() - 3600)
    response = harness.client.post("/v1/feedback", json={"trace_id": TRACE, "value": "up", "token": expired})
    assert response.status_code == 403 and "expired" in response.json()["error"]
    tampered = token.replace(token.split(".")[0], str(int(token.split(".")[0]) + 10**6))
    assert (
        harness.client.post("/v1/feedback", json={"trace_id": TRACE, "value": "up", "token": tampered}).status_code
        == 403
    )
    assert (
        harness.client.post("/v1/feedback", json={"trace_id": TRACE, "value": "up", "token": "garbage"}).status_code
        == 403
    )
    assert [v.source for v in feedback_history(harness.engine, TRACE)] == ["token"]


def test_feedback_token_without_configured_secret_uses_secret_stored_in_database(
    tmp_path: Path, server_engine: Engine
) -> None:
    settings = make_settings(tmp_path, secret_key=None)
    token = llmmon.feedback_token(TRACE, settings=settings)
    assert llmmon.feedback_token(TRACE, settings=settings).split(".")[1] == token.split(".")[1]  # same stored secret
    with TestClient(create_app(settings, engine=server_engine)) as client:
        assert client.post("/v1/feedback", json={"trace_id": TRACE, "value": "up", "token": token}).status_code == 200


def test_feedback_rate_limit_per_token(tmp_path: Path, server_engine: Engine) -> None:
    settings = make_settings(tmp_path, feedback_rate_per_token=3)
    token = make_feedback_token(SECRET, TRACE, ttl_s=600)
    with TestClient(create_app(settings, engine=server_engine)) as client:
        codes = [
            client.post("/v1/feedback", json={"trace_id": TRACE, "value": "up", "token": token}).status_code
            for _ in range(5)
        ]
        other = make_feedback_token(SECRET, "e" * 32, ttl_s=600)
        other_code = client.post("/v1/feedback", json={"trace_id": "e" * 32, "value": "up", "token": other}).status_code
    assert codes == [200, 200, 200, 429, 429]
    assert other_code == 200


def test_feedback_rate_limit_per_key(tmp_path: Path, server_engine: Engine) -> None:
    settings = make_settings(tmp_path, feedback_rate_per_key=2)
    _, key = create_key(server_engine, scope="ingest")
    with TestClient(create_app(settings, engine=server_engine)) as client:
        codes = [
            client.post(
                "/v1/feedback", json={"trace_id": TRACE, "value": "up"}, headers={"X-Llmmon-Key": key}
            ).status_code
            for _ in range(3)
        ]
    assert codes == [200, 200, 429]


def test_feedback_cors_only_on_feedback_endpoint(tmp_path: Path, server_engine: Engine) -> None:
    settings = make_settings(tmp_path, server_cors_origins=["https://shop.example"])
    preflight = {
        "Origin": "https://shop.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    with TestClient(create_app(settings, engine=server_engine)) as client:
        allowed = client.options("/v1/feedback", headers=preflight)
        elsewhere = client.options("/v1/traces", headers=preflight)
        evil = client.options("/v1/feedback", headers={**preflight, "Origin": "https://evil.example"})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert "access-control-allow-origin" not in elsewhere.headers
    assert "access-control-allow-origin" not in evil.headers


def test_python_feedback_writes_directly(tmp_path: Path, server_engine: Engine) -> None:
    settings = make_settings(tmp_path)
    llmmon.feedback(TRACE, "up", user_id="u9", settings=settings)
    llmmon.feedback(TRACE, "down", user_id="u9", reason="rude", settings=settings)
    assert [(v.value, v.reason, v.source) for v in feedback_for_trace(server_engine, TRACE)] == [
        ("down", "rude", "python")
    ]
    assert len(feedback_history(server_engine, TRACE)) == 2


def test_live_concurrent_duplicate_votes_keep_one_current_vote_and_full_history(
    live_harness: tuple[LiveServer, dict[str, str]], server_engine: Engine
) -> None:
    server, keys = live_harness
    headers = {"Authorization": f"Bearer {keys['ingest']}"}

    def vote(i: int) -> int:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            body = {"trace_id": TRACE, "value": "up" if i % 2 else "down", "user_id": "same-user"}
            return client.post("/v1/feedback", json=body, headers=headers).status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(vote, range(64)))
    assert codes == [200] * 64
    current = feedback_for_trace(server_engine, TRACE)
    assert len(current) == 1
    history = feedback_history(server_engine, TRACE)
    assert len(history) == 64
    assert current[0].value == history[-1].value  # the last vote committed is the current one


def test_live_database_locked_gives_503_and_no_acknowledged_vote_is_lost(tmp_path: Path, server_engine: Engine) -> None:
    settings = make_settings(tmp_path, server_no_auth=True, db_busy_timeout_s=0.3)
    db_file = tmp_path / "server.db"
    acknowledged: list[str] = []
    refused = 0
    with LiveServer(create_app(settings)) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(5):
            response = client.post("/v1/feedback", json={"trace_id": f"before{i}", "value": "up"})
            assert response.status_code == 200
            acknowledged.append(f"before{i}")
        # Another process holds the write lock longer than the busy timeout: the database is unavailable.
        blocker = sqlite3.connect(db_file, timeout=1, check_same_thread=False)
        blocker.execute("PRAGMA busy_timeout=0")
        blocker.execute("BEGIN EXCLUSIVE")
        lock_released = threading.Event()

        def release_later() -> None:
            time.sleep(1.5)
            blocker.rollback()
            blocker.close()
            lock_released.set()

        releaser = threading.Thread(target=release_later)
        releaser.start()
        response = client.post("/v1/feedback", json={"trace_id": "during", "value": "down"})
        assert response.status_code == 503
        payload = response.json()
        assert payload["ok"] is False and payload["status"] == 503 and "database unavailable" in payload["error"]
        refused += 1
        releaser.join()
        assert lock_released.is_set()
        for i in range(5):
            response = client.post("/v1/feedback", json={"trace_id": f"after{i}", "value": "up"})
            assert response.status_code == 200
            acknowledged.append(f"after{i}")
    with server_engine.connect() as connection:
        stored = set(connection.execute(select(FeedbackEvent.trace_id)).scalars())  # type: ignore[call-overload]
        total = connection.execute(select(func.count()).select_from(FeedbackEvent)).scalar()
    assert set(acknowledged) <= stored
    assert "during" not in stored
    assert total == len(acknowledged) and refused == 1
