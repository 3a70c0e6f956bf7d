"""The pure-ASGI feedback fast path and the documented FastAPI route answer alike; timing labels the route."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from llmmon.server.app import create_app
from llmmon.server.keys import create_key
from llmmon.server.routes.feedback import FeedbackFastPath
from llmmon.storage.feedback import feedback_for_trace, feedback_history
from tests.server.conftest import make_settings

TRACE = "fa57fa57fa57fa57fa57fa57fa57fa57"


@pytest.fixture(params=["fast-path", "fastapi-route"])
def client_and_key(
    request: pytest.FixtureRequest, tmp_path: Path, server_engine: Engine
) -> Iterator[tuple[TestClient, str, str]]:
    app = create_app(make_settings(tmp_path, feedback_rate_per_key=2), engine=server_engine)
    assert [entry.cls for entry in app.user_middleware].count(FeedbackFastPath) == 1
    if request.param == "fastapi-route":  # the middleware stack is built on the first request
        app.user_middleware = [entry for entry in app.user_middleware if entry.cls is not FeedbackFastPath]
    _, key = create_key(server_engine, scope="ingest")
    with TestClient(app) as client:
        yield client, key, request.param


def test_vote_replacement_errors_and_limits_are_the_same_on_both_paths(
    client_and_key: tuple[TestClient, str, str], server_engine: Engine
) -> None:
    client, key, client_kind = client_and_key
    auth = {"Authorization": f"Bearer {key}"}
    first = client.post("/v1/feedback", json={"trace_id": TRACE, "value": "up", "user_id": "u"}, headers=auth)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.json() == {"ok": True, "trace_id": TRACE, "user_id": "u", "value": "up", "score": 1.0}
    second = client.post("/v1/feedback", json={"trace_id": TRACE, "score": -0.5, "user_id": "u"}, headers=auth)
    assert second.json() == {"ok": True, "trace_id": TRACE, "user_id": "u", "value": None, "score": -0.5}
    assert [(vote.value, vote.score) for vote in feedback_for_trace(server_engine, TRACE)] == [(None, -0.5)]
    assert len(feedback_history(server_engine, TRACE)) == 2

    limited = client.post("/v1/feedback", json={"trace_id": TRACE, "value": "up"}, headers=auth)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "5"
    assert limited.json() == {"ok": False, "error": "rate limit exceeded (2 votes a minute)", "status": 429}

    unauthenticated = client.post("/v1/feedback", json={"trace_id": TRACE, "value": "up"})
    assert unauthenticated.status_code == 401 and unauthenticated.headers["www-authenticate"] == "Bearer"
    invalid = client.post("/v1/feedback", json={"trace_id": TRACE, "value": "sideways"}, headers=auth)
    assert invalid.status_code == 422 and invalid.json()["error"].startswith("invalid request: value")
    not_json = client.post(
        "/v1/feedback", content=b"trace_id=x&value=up", headers={**auth, "content-type": "text/plain"}
    )
    assert not_json.status_code == 422 and not_json.json()["ok"] is False
    empty = client.post("/v1/feedback", content=b"", headers={**auth, "content-type": "application/json"})
    assert empty.status_code == 422
    malformed = client.post(
        "/v1/feedback", content=b'{"trace_id": ', headers={**auth, "content-type": "application/json"}
    )
    assert malformed.status_code == 422 and malformed.json()["ok"] is False
    # Which path answered: pydantic-core's JSON message (fast path) or FastAPI's.
    assert ("Invalid JSON" in malformed.json()["error"]) is (client_kind == "fast-path")
    with server_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM feedback_event")).scalar() == 2


def test_feedback_requests_are_timed_under_the_route_template(tmp_path: Path, server_engine: Engine) -> None:
    _, key = create_key(server_engine, scope="admin")
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(make_settings(tmp_path), engine=server_engine)) as client:
        for _ in range(3):
            response = client.post("/v1/feedback", json={"trace_id": TRACE, "value": "down"}, headers=auth)
            assert response.status_code == 200
        assert client.post("/v1/feedback", json={"trace_id": TRACE}, headers=auth).status_code == 422
        metrics = client.get("/metrics", headers=auth).text
    assert 'llmmon_http_request_duration_seconds_count{method="POST",route="/v1/feedback",status="200"} 3.0' in metrics
    assert 'llmmon_http_request_duration_seconds_count{method="POST",route="/v1/feedback",status="422"} 1.0' in metrics
    assert 'llmmon_feedback_received_total{value="down"} 3.0' in metrics


def test_feedback_body_over_limit_is_refused_before_the_fast_path(tmp_path: Path, server_engine: Engine) -> None:
    settings = make_settings(tmp_path, server_no_auth=True, server_max_body_bytes=2_048)
    with TestClient(create_app(settings, engine=server_engine)) as client:
        response = client.post("/v1/feedback", json={"trace_id": TRACE, "value": "up", "comment": "x" * 4_000})
    assert response.status_code == 413 and response.json()["status"] == 413
    with server_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM feedback_event")).scalar() == 0


def test_fast_path_answers_under_a_mount_point(tmp_path: Path, server_engine: Engine) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    app = create_app(make_settings(tmp_path, server_no_auth=True), engine=server_engine)
    # A parent app runs the mounted app's lifespan itself (migrations, then the writer's shutdown).
    parent = Starlette(routes=[Mount("/llmmon", app=app)], lifespan=lambda _parent: app.router.lifespan_context(app))
    with TestClient(parent) as client:
        response = client.post("/llmmon/v1/feedback", json={"trace_id": TRACE, "value": "up"})
        elsewhere = client.post("/v1/feedback", json={"trace_id": TRACE, "value": "up"})
        malformed = client.post(
            "/llmmon/v1/feedback", content=b'{"trace_id": ', headers={"content-type": "application/json"}
        )
    assert response.status_code == 200 and response.json()["trace_id"] == TRACE
    # pydantic-core's JSON message: the fast path answered (FastAPI's route says "JSON decode error").
    assert malformed.status_code == 422 and "Invalid JSON" in malformed.json()["error"]
    assert elsewhere.status_code == 404
    assert len(feedback_history(server_engine, TRACE)) == 1


def test_freeze_gc_moves_the_start_up_heap_out_of_collections(tmp_path: Path, server_engine: Engine) -> None:
    assert gc.get_freeze_count() == 0
    try:
        with TestClient(create_app(make_settings(tmp_path), engine=server_engine, freeze_gc=True)):
            assert gc.get_freeze_count() > 10_000  # modules, routes, models: the whole start-up heap
    finally:
        gc.unfreeze()
    with TestClient(create_app(make_settings(tmp_path), engine=server_engine)):
        assert gc.get_freeze_count() == 0  # opt-in only: library users' processes are left alone
