"""POST /v1/traces and /v1/otlp/traces: idempotent batches, validation, OTLP GenAI mapping, limits."""

from __future__ import annotations

from sqlalchemy import text

from tests.server.conftest import ServerHarness

TRACE = "a" * 32


def _span(span_id: str, **extra: object) -> dict[str, object]:
    return {
        "span_id": span_id,
        "trace_id": TRACE,
        "name": "step",
        "start_time": "2026-01-01T10:00:00Z",
        "latency_ms": 3.0,
        **extra,
    }


def test_ingest_batch_is_stored_once_even_when_retried(harness: ServerHarness) -> None:
    batch = {
        "spans": [
            _span("root", input={"question": "hi"}, output="hello", tags=["a"], attributes={"k": 1}),
            _span("llm1", parent_span_id="root", kind="llm", model="gpt-4o-mini", input_tokens=100, output_tokens=20),
        ]
    }
    for _ in range(2):
        response = harness.client.post("/v1/traces", json=batch, headers=harness.auth("ingest"))
        assert response.status_code == 200 and response.json() == {"ok": True, "received": 2}
    with harness.engine.connect() as connection:
        rows = {row.span_id: row for row in connection.execute(text("SELECT * FROM span ORDER BY span_id"))}
    assert set(rows) == {"root", "llm1"}
    assert rows["root"].input == '{"question":"hi"}' and rows["root"].tags == '["a"]'
    assert rows["llm1"].cost_usd is not None and rows["llm1"].cost_usd > 0  # priced on the server
    assert rows["llm1"].latency_ms == 3.0


def test_ingest_requires_ingest_scope(harness: ServerHarness) -> None:
    batch = {"spans": [_span("s1")]}
    assert harness.client.post("/v1/traces", json=batch).status_code == 401
    assert harness.client.post("/v1/traces", json=batch, headers=harness.auth("read")).status_code == 403
    assert harness.client.post("/v1/traces", json=batch, headers=harness.auth("admin")).status_code == 200


def test_ingest_bad_spans_get_422_and_nothing_is_stored(harness: ServerHarness) -> None:
    bad = [
        {"spans": [{"trace_id": TRACE, "name": "x", "start_time": "2026-01-01T00:00:00Z", "latency_ms": 1}]},
        {"spans": [_span("s", latency_ms=-1)]},
        {"spans": [_span("s", start_time="yesterday")]},
        {"spans": [_span("s", input_tokens="many")]},
        {"spans": [_span("s", unknown_column=1)]},
        {"spans": [{**_span("s"), "latency_ms": None}]},
        {"spans": "not a list"},
        {"span": []},
    ]
    for body in bad:
        response = harness.client.post("/v1/traces", json=body, headers=harness.auth("ingest"))
        assert response.status_code == 422, body
        assert response.json()["ok"] is False and response.json()["status"] == 422
    with harness.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM span")).scalar() == 0


def test_ingest_sql_injection_in_values_is_stored_as_data(harness: ServerHarness) -> None:
    evil = "x'); DROP TABLE span; --"
    response = harness.client.post(
        "/v1/traces",
        json={"spans": [_span("inj", name=evil, user_id=evil, model=evil)]},
        headers=harness.auth("ingest"),
    )
    assert response.status_code == 200
    with harness.engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM span WHERE span_id = 'inj'")).scalar() == evil


def test_body_over_limit_gets_413(harness: ServerHarness) -> None:
    body = b'{"spans": [' + b" " * (20 * 1024 * 1024) + b"]}"
    response = harness.client.post(
        "/v1/traces", content=body, headers={**harness.auth("ingest"), "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"ok": False, "error": response.json()["error"], "status": 413}
    feedback = harness.client.post(
        "/v1/feedback", content=body, headers={**harness.auth("ingest"), "content-type": "application/json"}
    )
    assert feedback.status_code == 413


def _otlp(**span_extra: object) -> dict[str, object]:
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "parentSpanId": "",
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": "1767261600000000000",
        "endTimeUnixNano": "1767261601250000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "120"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 30}},
            {"key": "gen_ai.prompt.0.role", "value": {"stringValue": "user"}},
            {"key": "gen_ai.prompt.0.content", "value": {"stringValue": "What is the price?"}},
            {"key": "gen_ai.completion.0.content", "value": {"stringValue": "It costs $10."}},
            {"key": "session.id", "value": {"stringValue": "sess-1"}},
            {"key": "custom.flag", "value": {"boolValue": True}},
        ],
        "status": {"code": 2, "message": "upstream timeout"},
        **span_extra,
    }
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop-bot"}}]},
                "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai"}, "spans": [span]}],
            }
        ]
    }


def test_otlp_genai_attributes_map_to_span_columns(harness: ServerHarness) -> None:
    response = harness.client.post("/v1/otlp/traces", json=_otlp(), headers=harness.auth("ingest"))
    assert response.status_code == 200, response.text
    with harness.engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM span")).one()
    assert row.trace_id == "5b8efff798038103d269b633813fc60c" and row.parent_span_id is None
    assert (row.kind, row.model, row.provider) == ("llm", "gpt-4o-mini", "openai")
    assert (row.input_tokens, row.output_tokens, row.total_tokens) == (120, 30, 150)
    assert row.latency_ms == 1250.0 and row.status == "error" and row.error_message == "upstream timeout"
    assert row.session_id == "sess-1"
    assert '"What is the price?"' in row.input and "It costs $10." in row.output
    assert '"service.name":"shop-bot"' in row.attributes and '"custom.flag":true' in row.attributes
    assert row.cost_usd is not None


def test_otlp_bad_input(harness: ServerHarness) -> None:
    headers = harness.auth("ingest")
    assert (
        harness.client.post(
            "/v1/otlp/traces", content=b"\x0a\x0b", headers={**headers, "content-type": "application/x-protobuf"}
        ).status_code
        == 415
    )
    assert (
        harness.client.post(
            "/v1/otlp/traces", content=b"{oops", headers={**headers, "content-type": "application/json"}
        ).status_code
        == 422
    )
    assert harness.client.post("/v1/otlp/traces", json=[1], headers=headers).status_code == 422
    bad_time = harness.client.post("/v1/otlp/traces", json=_otlp(startTimeUnixNano="soon"), headers=headers)
    assert bad_time.status_code == 422 and bad_time.json()["ok"] is False
    no_id = harness.client.post("/v1/otlp/traces", json=_otlp(spanId=""), headers=headers)
    assert no_id.status_code == 422
    assert harness.client.post("/v1/otlp/traces", json=_otlp()).status_code == 401
