"""Remote SDK mode against a live server, /metrics, `llmmon keys`, the dashboard login, and schemathesis."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from sqlalchemy import Engine, text
from typer.testing import CliRunner

import llmmon
from llmmon.cli import app as cli_app
from llmmon.server.app import create_app
from llmmon.server.keys import list_keys
from tests.server.conftest import LiveServer, ServerHarness, make_settings


def test_remote_mode_posts_spans_to_the_server(
    tmp_path: Path, live_harness: tuple[LiveServer, dict[str, str]], server_engine: Engine
) -> None:
    server, keys = live_harness
    settings = make_settings(
        tmp_path, database_url=f"sqlite:///{tmp_path / 'never.db'}", endpoint=server.url, api_key=keys["ingest"]
    )
    llmmon.configure(settings)
    try:
        with llmmon.span("remote-root") as root, llmmon.span("remote-child"):
            pass
        result = llmmon.flush(timeout=10)
    finally:
        llmmon.shutdown()
    assert result.pending == 0 and result.dropped == 0
    with server_engine.connect() as connection:
        names = sorted(
            connection.execute(text("SELECT name FROM span WHERE trace_id = :t"), {"t": root.trace_id}).scalars()
        )
    assert names == ["remote-child", "remote-root"]
    assert not (tmp_path / "never.db").exists()


def test_metrics_expose_calls_tokens_feedback_and_bounded_labels(tmp_path: Path, server_engine: Engine) -> None:
    from fastapi.testclient import TestClient

    settings = make_settings(tmp_path, server_no_auth=True, metrics_top_n=2)
    spans = [
        {
            "span_id": f"s{i}",
            "trace_id": f"t{i}",
            "name": "llm",
            "kind": "llm",
            "model": f"model-{i % 4}",
            "prompt_version": "v1",
            "start_time": "2026-01-01T00:00:00Z",
            "latency_ms": 120.0,
            "input_tokens": 10,
            "output_tokens": 5,
            "status": "error" if i == 0 else "ok",
        }
        for i in range(12)
    ]
    with TestClient(create_app(settings, engine=server_engine)) as client:
        assert client.post("/v1/traces", json={"spans": spans}).status_code == 200
        assert client.post("/v1/feedback", json={"trace_id": "t1", "value": "down"}).status_code == 200
        body = client.get("/metrics").text
    assert 'llmmon_http_request_duration_seconds_count{method="POST",route="/v1/traces",status="200"} 1.0' in body
    assert 'llmmon_feedback_votes_total{value="down"} 1.0' in body
    assert 'llmmon_tokens_total{direction="input",model="other",prompt_version="v1"}' in body
    models = {
        line.split('model="')[1].split('"')[0]
        for line in body.splitlines()
        if line.startswith("llmmon_llm_calls_total{")
    }
    assert len(models) == 3 and "other" in models  # top 2 + other
    assert 'llmmon_llm_errors_total{model="model-0",prompt_version="v1"} 1.0' in body


def test_metrics_and_login_need_read_key(harness: ServerHarness) -> None:
    assert harness.client.get("/metrics").status_code == 401
    assert harness.client.get("/metrics", headers=harness.auth("ingest")).status_code == 403
    assert harness.client.get("/metrics", headers=harness.auth("read")).status_code == 200
    bad = harness.client.post("/login", data={"key": "llmk_x_y", "next": "/"}, follow_redirects=False)
    assert bad.status_code == 401
    ok = harness.client.post(
        "/login", data={"key": harness.keys["read"], "next": "//evil.example"}, follow_redirects=False
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    assert harness.client.get("/metrics").status_code == 200  # the session cookie works for read
    ingest = harness.client.post("/v1/traces", json={"spans": []})
    assert ingest.status_code == 401  # but never for ingest


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    db = str(tmp_path / "keys.db")
    runner = CliRunner()
    created = runner.invoke(cli_app, ["keys", "create", "--scope", "ingest", "--name", "bot", "--db", db])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("llmk_")
    from llmmon.storage.engine import make_engine

    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT key_hash FROM api_key")).scalar_one()
        assert key not in stored and len(stored) == 64
        key_id = list_keys(engine)[0].id
    finally:
        engine.dispose()
    listed = runner.invoke(cli_app, ["keys", "list", "--db", db])
    assert key_id in listed.output and key not in listed.output
    assert runner.invoke(cli_app, ["keys", "create", "--scope", "root", "--db", db]).exit_code == 2
    assert runner.invoke(cli_app, ["keys", "revoke", key_id, "--db", db]).exit_code == 0
    assert runner.invoke(cli_app, ["keys", "revoke", key_id, "--db", db]).exit_code == 2


def test_schemathesis_server_endpoints(tmp_path: Path, server_engine: Engine) -> None:
    from hypothesis import HealthCheck, given, settings

    app = create_app(make_settings(tmp_path, server_no_auth=True, feedback_rate_per_token=0), engine=server_engine)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked = 0
    for path in ("/v1/feedback", "/v1/traces"):
        operation = schema[path]["POST"]

        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            response = case.call()
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                payload = response.json()
                assert set(payload) == {"ok", "error", "status"} and payload["status"] == response.status_code

        check()
        checked += 1
    assert checked == 2
