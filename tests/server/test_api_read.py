"""The read API (GET /v1/...) and the dashboard pages through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from llmmon.config import Settings
from llmmon.server.app import create_app
from llmmon.storage.latency_histogram import RELATIVE_ERROR
from llmmon.storage.models import Span
from tests.server.read_data import NOW, Seeded, seed

INJECTIONS = [
    "' OR '1'='1",
    "x'; DROP TABLE span; --",
    '" OR 1=1 --',
    "%",
    "_",
    "1) UNION SELECT span_id FROM span --",
]


@pytest.fixture
def seeded(engine: Engine) -> Seeded:
    return seed(engine)


@pytest.fixture
def client(engine: Engine, db_url: str, seeded: Seeded) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db_url, server_no_auth=True), engine=engine)
    with TestClient(app) as test_client:
        yield test_client


def _get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_traces_list_pages_newest_first(client: TestClient, seeded: Seeded) -> None:
    first = _get(client, "/v1/traces", limit=25)
    second = _get(client, "/v1/traces", limit=25, offset=25)
    assert first["count"] == second["count"] == len(seeded.roots)
    ids = [t["trace_id"] for t in first["data"] + second["data"]]
    expected = sorted(seeded.roots, key=lambda r: (-r["start_time"].timestamp(), r["trace_id"]))  # type: ignore[union-attr]
    assert ids == [r["trace_id"] for r in expected[:50]]
    top = first["data"][0]
    llm = next(s for s in seeded.llm if s["trace_id"] == top["trace_id"])
    assert (top["span_count"], top["model"], top["input_tokens"]) == (2, llm["model"], llm["input_tokens"])


@pytest.mark.parametrize(
    ("param", "value", "predicate"),
    [
        ("status", "error", lambda root, llm: root["status"] == "error"),
        ("model", "gpt-4.1", lambda root, llm: llm["model"] == "gpt-4.1"),
        ("prompt_version", "v1", lambda root, llm: llm["prompt_version"] == "v1"),
        ("name", "lookup_order", lambda root, llm: root["name"] == "lookup_order"),
        ("user_id", "user-3", lambda root, llm: root["user_id"] == "user-3"),
        ("session_id", "s-4", lambda root, llm: root["session_id"] == "s-4"),
        ("q", "sunday", lambda root, llm: "Sunday" in root["input"]),
    ],
)
def test_traces_filter_matches_exactly_the_expected_traces(
    client: TestClient, seeded: Seeded, param: str, value: str, predicate: Any
) -> None:
    expected = {r["trace_id"] for r, s in zip(seeded.roots, seeded.llm, strict=True) if predicate(r, s)}
    body = _get(client, "/v1/traces", limit=500, **{param: value})
    assert 0 < body["count"] < len(seeded.roots)
    assert {t["trace_id"] for t in body["data"]} == expected


def test_traces_time_window_filter(client: TestClient, seeded: Seeded) -> None:
    since = NOW - timedelta(days=1)
    body = _get(client, "/v1/traces", since=since.isoformat(), limit=500)
    expected = {r["trace_id"] for r in seeded.roots if r["start_time"] >= since}  # type: ignore[operator]
    assert {t["trace_id"] for t in body["data"]} == expected
    naive_until = (NOW - timedelta(days=1)).replace(tzinfo=None).isoformat()  # naive means UTC
    older = _get(client, "/v1/traces", until=naive_until, limit=500)
    assert older["count"] + body["count"] == len(seeded.roots)


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_injection_in_every_filter_has_no_effect(
    client: TestClient, engine: Engine, seeded: Seeded, payload: str
) -> None:
    with engine.connect() as connection:
        before = connection.execute(select(func.count()).select_from(Span)).scalar_one()
    for param in ("name", "model", "prompt_name", "prompt_version", "user_id", "session_id"):
        body = _get(client, "/v1/traces", **{param: payload})
        assert body["count"] == 0, (param, payload)
    # Search is a literal substring: '%' and '_' match only themselves (here: in 'lookup_order').
    literal = {
        r["trace_id"]
        for r in seeded.roots
        if any(payload.lower() in str(r[c]).lower() for c in ("name", "input", "output"))
    }
    assert {t["trace_id"] for t in _get(client, "/v1/traces", q=payload, limit=500)["data"]} == literal
    for param, path in [("name", "/v1/stats"), ("suite", "/v1/evals/runs")]:
        assert _get(client, path, **{param: payload})["count"] == 0
    for param, path in [
        ("status", "/v1/traces"),
        ("group_by", "/v1/stats"),
        ("bucket", "/v1/stats/timeseries"),
        ("by", "/v1/stats/breakdown"),
        ("since", "/v1/traces"),
        ("limit", "/v1/traces"),
    ]:
        response = client.get(path, params={param: payload})
        assert response.status_code == 422 and response.json()["ok"] is False
    for path in (f"/v1/traces/{payload}", f"/v1/traces/{payload}/claims"):
        assert client.get(path).status_code == 404
    assert client.get("/v1/evals/compare", params={"baseline": payload, "candidate": "run-cand"}).status_code == 404
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Span)).scalar_one() == before
    assert _get(client, "/v1/traces")["count"] == before // 2


def test_trace_detail_has_span_tree_claims_and_feedback(client: TestClient, seeded: Seeded) -> None:
    checked = next(r for r in seeded.roots if r["trace_id"] in seeded.hallucinated)
    body = _get(client, f"/v1/traces/{checked['trace_id']}")
    (root,) = body["spans"]
    assert root["span"]["span_id"] == checked["span_id"]
    (child,) = root["children"]
    assert child["span"]["kind"] == "llm" and child["children"] == []
    (claim,) = body["claims"]
    assert claim["verdict"] == "contradicted" and claim["answer_verdict"] == "hallucinated"
    (evidence,) = claim["evidence"]
    assert evidence["passage_id"] == seeded.cited_passage
    assert evidence["context_before"] or evidence["context_after"]  # the document around the passage
    voted = next(r for r in seeded.roots if r["trace_id"] in seeded.down)
    feedback = _get(client, f"/v1/traces/{voted['trace_id']}")["feedback"]
    assert [(f["value"], f["score"]) for f in feedback] == [("down", -1.0)]
    claims = _get(client, f"/v1/traces/{checked['trace_id']}/claims")
    assert claims["count"] == 1 and claims["data"] == body["claims"]


def test_unknown_trace_is_404_in_the_error_envelope(client: TestClient) -> None:
    response = client.get("/v1/traces/0123456789abcdef0123456789abcdef")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": response.json()["error"], "status": 404}


def test_stats_timeseries_matches_numpy(client: TestClient, seeded: Seeded) -> None:
    points = _get(client, "/v1/stats/timeseries", bucket="day")["data"]
    assert sum(p["traces"] for p in points) == len(seeded.roots)
    for point in points:
        roots = [r for r in seeded.roots if r["start_time"].strftime("%Y-%m-%d") == point["bucket"]]  # type: ignore[union-attr]
        latencies = np.array([r["latency_ms"] for r in roots])
        assert point["traces"] == len(roots)
        assert point["errors"] == sum(r["status"] == "error" for r in roots)
        assert point["percentiles_approximate"] is True
        for q in (50, 90, 99):  # from the roll-ups' histogram: within the documented relative error
            assert point[f"p{q}_ms"] == pytest.approx(np.percentile(latencies, q), rel=RELATIVE_ERROR)
        ids = {r["trace_id"] for r in roots}
        assert point["checked"] == len(ids & seeded.checked)
        assert point["hallucinated"] == len(ids & seeded.hallucinated)
        assert point["voted"] == len(ids & seeded.voted)
        assert point["thumbs_down"] == len(ids & seeded.down)
        llm_cost = sum(s["cost_usd"] for s in seeded.llm if s["trace_id"] in ids)  # type: ignore[misc]
        assert point["cost_usd"] == pytest.approx(llm_cost)
    hourly = _get(client, "/v1/stats/timeseries", bucket="hour")["data"]
    assert sum(p["traces"] for p in hourly) == len(seeded.roots) and len(hourly[0]["bucket"]) == 13


def test_stats_breakdown_rates_by_prompt_version(client: TestClient, seeded: Seeded) -> None:
    rows = {r["key"]: r for r in _get(client, "/v1/stats/breakdown", by="prompt_version")["data"]}
    assert set(rows) == {"support-answer v1", "support-answer v2"}
    for version in ("v1", "v2"):
        ids = {s["trace_id"] for s in seeded.llm if s["prompt_version"] == version}
        row = rows[f"support-answer {version}"]
        assert row["calls"] == len(ids)
        checked, bad = len(ids & seeded.checked), len(ids & seeded.hallucinated)
        assert row["hallucination_rate"] == pytest.approx(bad / checked)
        voted, down = len(ids & seeded.voted), len(ids & seeded.down)
        assert row["thumbs_down_rate"] == pytest.approx(down / voted)
    models = {r["key"]: r for r in _get(client, "/v1/stats/breakdown", by="model")["data"]}
    assert models["gpt-4.1"]["calls"] == sum(s["model"] == "gpt-4.1" for s in seeded.llm)
    trace_level = _get(client, "/v1/stats", group_by="prompt_version")
    assert trace_level["count"] == 2


def test_evals_runs_and_comparison(client: TestClient) -> None:
    runs = _get(client, "/v1/evals/runs")
    assert [r["id"] for r in runs["data"]] == ["run-cand", "run-base"]
    comparison = _get(client, "/v1/evals/compare", baseline="run-base", candidate="run-cand")
    changes = {c["case_id"]: c["change"] for c in comparison["cases"]}
    assert changes == {"case-0": "newly_failing", "case-1": "still_passing", "case-2": "newly_passing"}
    assert comparison["cases"][0]["case_id"] == "case-0"
    assert (comparison["newly_failing"], comparison["newly_passing"]) == (1, 1)


def test_alerts_are_empty_before_the_monitor_fires(client: TestClient) -> None:
    body = _get(client, "/v1/alerts")
    assert body == {"data": [], "count": 0}  # the stored alerts; tests/server/test_monitor_api.py fills them


def test_knowledge_bases_documents_and_cited_passages(client: TestClient, seeded: Seeded) -> None:
    (kb,) = _get(client, "/v1/knowledge-bases")["data"]
    assert kb["name"] == "support" and kb["documents"] > 0 and kb["passages"] >= kb["documents"]
    docs = _get(client, f"/v1/knowledge-bases/{kb['id']}/documents")
    assert docs["count"] == kb["documents"]
    cited = _get(client, f"/v1/knowledge-bases/{kb['id']}/cited-passages")["data"]
    assert [(c["passage_id"], c["citations"]) for c in cited] == [(seeded.cited_passage, len(seeded.hallucinated))]
    assert client.get("/v1/knowledge-bases/999/documents").status_code == 404


def test_read_api_requires_a_key_unless_no_auth(engine: Engine, db_url: str, seeded: Seeded) -> None:
    app = create_app(Settings(database_url=db_url), engine=engine)
    with TestClient(app) as test_client:
        assert test_client.get("/v1/traces").status_code == 401
        assert test_client.get("/v1/stats/timeseries").status_code == 401
        page = test_client.get("/traces", headers={"accept": "text/html"}, follow_redirects=False)
        assert page.status_code in (303, 401)


def test_openapi_documents_the_read_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v1/traces", "/v1/traces/{trace_id}", "/v1/stats/timeseries", "/v1/evals/compare", "/v1/alerts"):
        assert "get" in spec["paths"][path]
    schema = spec["paths"]["/v1/traces"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/TracesPublic")


@pytest.mark.parametrize("path", ["/", "/?range=24h", "/?range=all", "/traces", "/evals", "/knowledge"])
def test_dashboard_pages_render(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "<svg" in response.text or "<table" in response.text


def test_dashboard_trace_and_compare_pages(client: TestClient, seeded: Seeded) -> None:
    trace_id = next(iter(seeded.hallucinated))
    page = client.get(f"/traces/{trace_id}").text
    assert "<mark>" in page and "contradicted" in page
    compare = client.get("/evals/compare", params={"baseline": "run-base", "candidate": "run-cand"}).text
    assert "newly failing" in compare
    kb_page = client.get(f"/knowledge/{seeded.kb_id}").text
    assert 'id="documents"' in kb_page and 'id="cited"' in kb_page
    assert client.get("/static/dashboard.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/..%2Fapp.py").status_code == 404
    filtered = client.get("/traces", params={"status": "error"}).text
    assert filtered.count('class="row-error"') == sum(r["status"] == "error" for r in seeded.roots)
