"""The pure-ASGI feedback fast path and the documented FastAPI route answer alike; timing labels the route."""

from __future__ import annotations

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
) -> Iterator[tuple[TestClient, str]]:
    app = create_app(make_settings(tmp_path, feedback_rate_per_key=2), engine=server_engine)
    assert [entry.cls for entry in app.user_middleware].count(FeedbackFastPath) == 1
    if request.param == "fastapi-route":  # the middleware stack is built on the first request
        app.user_middleware = [entry for entry in app.user_middleware if entry.cls is not FeedbackFastPath]
    _, key = create_key(server_engine, scope="ingest")
    with TestClient(app) as client:
        yield client, key


def test_vote_replacement_errors_and_limits_are_the_same_on_both_paths(
    client_and_key: tuple[TestClient, str], server_engine: Engine
) -> None:
    client, key = client_and_key
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
