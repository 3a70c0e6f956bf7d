"""The monitor's JSON API and pages on SQLite and PostgreSQL: stored alerts (list, filter, ack with
scopes), drift on seeded traffic, the canary verdict, and bad parameters as 422 in the one envelope."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from llmmon.config import Settings
from llmmon.server.app import create_app
from llmmon.server.keys import create_key
from tests.server.conftest import make_settings
from tests.server.monitor_data import seed_alerts, seed_canary, seed_drift

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def keys(engine: Engine) -> dict[str, str]:
    return {scope: create_key(engine, scope=scope, name=scope)[1] for scope in ("ingest", "read", "admin")}


@pytest.fixture
def client(engine: Engine, db_url: str, keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=db_url, secret_key="k" * 32), engine=engine)) as test_client:
        yield test_client


def _auth(keys: dict[str, str], scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys[scope]}"}


def _get(client: TestClient, keys: dict[str, str], path: str, **params: Any) -> Any:
    response = client.get(path, params=params, headers=_auth(keys, "read"))
    assert response.status_code == 200, response.text
    return response.json()


def _assert_error(response: Any, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["ok"] is False and body["status"] == status and set(body) == {"ok", "error", "status"}
    for word in words:
        assert word in body["error"], body


# -- alerts ------------------------------------------------------------------------------------


def test_alerts_list_filters_by_state_and_severity(client: TestClient, keys: dict[str, str], engine: Engine) -> None:
    ids = seed_alerts(engine, now=END)
    body = _get(client, keys, "/v1/alerts")
    assert body["count"] == 3 and [a["id"] for a in body["data"]] == [ids["open"], ids["acked"], ids["resolved"]]
    opened = body["data"][0]
    assert opened["last_value"] == 0.25 and opened["labels"] == {"prompt_version": "v4"}
    assert [n["ok"] for n in opened["notifications"]] == [False, True]
    assert [a["id"] for a in _get(client, keys, "/v1/alerts", state="active")["data"]] == [ids["open"], ids["acked"]]
    assert [a["id"] for a in _get(client, keys, "/v1/alerts", state="resolved")["data"]] == [ids["resolved"]]
    assert [a["id"] for a in _get(client, keys, "/v1/alerts", severity="warning")["data"]] == [ids["acked"]]
    assert _get(client, keys, "/v1/alerts", state="open", severity="info")["count"] == 0
    assert _get(client, keys, "/v1/alerts", limit=1)["count"] == 1
    overview = client.get("/", headers=_auth(keys, "read")).text  # the overview lists the active ones
    assert 'id="active-alerts"' in overview and "hallucination-spike" in overview and "p99-latency" in overview
    assert "volume-drop" not in overview


def test_overview_without_alerts(client: TestClient, keys: dict[str, str]) -> None:
    assert 'id="no-alerts"' in client.get("/", headers=_auth(keys, "read")).text


def test_ack_needs_admin_and_is_recorded(client: TestClient, keys: dict[str, str], engine: Engine) -> None:
    ids = seed_alerts(engine, now=END)
    path = f"/v1/alerts/{ids['open']}/ack"
    _assert_error(client.post(path), 401, "missing API key")
    _assert_error(client.post(path, headers=_auth(keys, "read")), 403, "admin")
    _assert_error(client.post(path, headers=_auth(keys, "ingest")), 403, "admin")
    _assert_error(client.get("/v1/alerts", headers=_auth(keys, "ingest")), 403, "read")
    assert _get(client, keys, "/v1/alerts", state="open")["count"] == 1  # nothing changed so far
    acked = client.post(path, headers=_auth(keys, "admin"))
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acked" and acked.json()["acked_by"].startswith("key:")
    assert _get(client, keys, "/v1/alerts", state="open")["count"] == 0
    again = client.post(path, headers=_auth(keys, "admin"))  # idempotent: still acked, same time
    assert again.status_code == 200 and again.json()["acked_at"] == acked.json()["acked_at"]
    _assert_error(client.post(f"/v1/alerts/{ids['resolved']}/ack", headers=_auth(keys, "admin")), 409, "resolved")
    _assert_error(client.post("/v1/alerts/999999/ack", headers=_auth(keys, "admin")), 404, "999999")
    for bad in ("0", "9223372036854775808", "x"):  # outside the INTEGER column, or not a number
        _assert_error(client.post(f"/v1/alerts/{bad}/ack", headers=_auth(keys, "admin")), 422, "alert_id")


def test_ack_form_on_the_alerts_page(client: TestClient, keys: dict[str, str], engine: Engine) -> None:
    ids = seed_alerts(engine, now=END)
    page = client.get("/alerts", headers=_auth(keys, "read"))
    assert page.status_code == 200 and "hallucination-spike" in page.text and "HTTP 500" in page.text
    assert "ack-form" not in page.text  # a read key sees no ack button
    admin_page = client.get("/alerts", headers=_auth(keys, "admin")).text
    assert f'action="/alerts/{ids["open"]}/ack"' in admin_page
    assert f'action="/alerts/{ids["acked"]}/ack"' not in admin_page
    _assert_error(client.post(f"/alerts/{ids['open']}/ack", headers=_auth(keys, "read")), 403, "admin")
    posted = client.post(f"/alerts/{ids['open']}/ack", headers=_auth(keys, "admin"), follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"].startswith("/alerts")
    assert _get(client, keys, "/v1/alerts", state="acked")["count"] == 2


# -- drift -------------------------------------------------------------------------------------


def test_drift_flags_the_shifted_latency(client: TestClient, keys: dict[str, str], engine: Engine) -> None:
    seed_drift(engine, end=END)
    body = _get(client, keys, "/v1/drift", reference="4d", current="1d", end=END.isoformat())
    assert body["current"] == {"start": "2026-11-19T12:00:00Z", "end": "2026-11-20T12:00:00Z"}
    assert body["reference"] == [{"start": "2026-11-15T12:00:00Z", "end": "2026-11-19T12:00:00Z"}]
    latency = next(f for f in body["features"] if f["feature"] == "latency_ms")
    assert latency["drifted"] and latency["psi"] > 0.2 and latency["ks_pvalue"] < 1e-6
    assert (latency["reference_n"], latency["current_n"]) == (800, 200)
    top = latency["top_bins"][0]
    assert top["current_share"] > top["reference_share"] and top["label"].startswith(">=")
    assert "latency_ms" in body["drifted"]
    language = next(f for f in body["features"] if f["feature"] == "language")
    assert not language["drifted"]
    # The same latency one day earlier (inside the steady period) has not drifted.
    steady = _get(client, keys, "/v1/drift", reference="3d", current="1d", end=(END - timedelta(days=1)).isoformat())
    assert "latency_ms" not in steady["drifted"]
    page = client.get("/drift", params={"reference": "4d", "current": "1d", "end": END.isoformat()},
                      headers=_auth(keys, "read"))  # fmt: skip
    assert page.status_code == 200 and 'id="feature-latency_ms"' in page.text and "badge-drifted" in page.text
    # The latency histogram has all ten decile bins; in the current window most traces sit in the top one.
    panel = page.text.split('id="chart-latency_ms"')[1].split('class="panel"')[0]
    histogram = panel.split("Share of traces: reference vs current</text>")[1]
    assert histogram.count("<title>reference ") == 10 and histogram.count("<title>current ") == 10
    top_share = re.search(r"<title>current &gt;= [^:]+: ([\d.]+)%</title>", histogram)
    assert top_share is not None and float(top_share.group(1)) > 50


def test_drift_with_a_seasonal_reference(client: TestClient, keys: dict[str, str], engine: Engine) -> None:
    seed_drift(engine, end=END, days=14, per_day=60)
    body = _get(client, keys, "/v1/drift", current="1d", seasonal=2, end=END.isoformat())
    assert [w["end"] for w in body["reference"]] == ["2026-11-13T12:00:00Z", "2026-11-06T12:00:00Z"]
    latency = next(f for f in body["features"] if f["feature"] == "latency_ms")
    assert latency["drifted"] and latency["reference_n"] == 120


# -- canary ------------------------------------------------------------------------------------


def test_canary_rolls_back_a_hallucinating_candidate(client: TestClient, keys: dict[str, str], engine: Engine) -> None:
    seed_canary(engine, start=END - timedelta(hours=2))
    params = {"prompt": "support-answer", "baseline": "v3", "candidate": "v4", "window": "1d", "end": END.isoformat()}
    body = _get(client, keys, "/v1/canary", **params)
    assert body["verdict"] == "roll back" and "hallucination rate" in body["reason"]
    hallucination = next(c for c in body["comparisons"] if c["metric"] == "hallucination_rate")
    assert hallucination["status"] == "worse" and hallucination["low"] > 0.02
    assert hallucination["baseline_n"] + hallucination["candidate_n"] == 900
    # The candidate compared with itself is a bad request; an unseen version has no data.
    _assert_error(client.get("/v1/canary", params=params | {"candidate": "v3"}, headers=_auth(keys, "read")), 422,
                  "same version")  # fmt: skip
    unseen = _get(client, keys, "/v1/canary", **params | {"candidate": "v9"})
    assert unseen["verdict"] == "keep waiting"
    page = client.get("/canary", params=params, headers=_auth(keys, "read"))
    assert page.status_code == 200 and 'id="verdict">roll back<' in page.text
    assert '<option value="v4" selected' in page.text and "svg" in page.text


# -- bad parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "word"),
    [
        ("/v1/alerts", {"state": "closed"}, "state"),
        ("/v1/alerts", {"severity": "fatal"}, "severity"),
        ("/v1/alerts", {"limit": "0"}, "limit"),
        ("/v1/drift", {"current": "yesterday"}, "current"),
        ("/v1/drift", {"reference": "7x"}, "reference"),
        ("/v1/drift", {"current": "0d"}, "positive"),
        ("/v1/drift", {"seasonal": "0"}, "seasonal"),
        ("/v1/drift", {"current": "8d", "seasonal": "2"}, "at most 7 days"),
        ("/v1/drift", {"end": "not-a-date"}, "end"),
        ("/v1/drift", {"reference": "1d' OR '1'='1"}, "reference"),
        ("/v1/drift", {"current": "1d", "end": "0001-01-01T00:00:00"}, "outside the years"),
        ("/v1/drift", {"reference": "9999w", "end": "0002-01-01T00:00:00"}, "outside the years"),
        ("/v1/canary", {"baseline": "v3", "candidate": "v4"}, "prompt"),
        ("/v1/canary", {"prompt": "p", "baseline": "v3", "candidate": "v4", "alpha": "1.5"}, "alpha"),
        ("/v1/canary", {"prompt": "p", "baseline": "v3", "candidate": "v4", "window": "soon"}, "window"),
        ("/v1/canary", {"prompt": "p", "baseline": "v3", "candidate": "v4", "end": "0001-01-01"}, "outside the years"),
    ],
)
def test_bad_parameters_are_422_in_the_error_envelope(
    client: TestClient, keys: dict[str, str], path: str, params: dict[str, str], word: str
) -> None:
    _assert_error(client.get(path, params=params, headers=_auth(keys, "read")), 422, word)


def test_openapi_documents_the_monitor_routes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, method, model in [
        ("/v1/alerts", "get", "AlertsPublic"),
        ("/v1/alerts/{alert_id}/ack", "post", "AlertPublic"),
        ("/v1/drift", "get", "DriftReportPublic"),
        ("/v1/canary", "get", "CanaryReport"),
    ]:
        schema = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith(f"/{model}")
    assert "/alerts" not in spec["paths"]  # the pages are not part of the API


def test_schemathesis_monitor_routes(tmp_path: Path, server_engine: Engine) -> None:
    """Generated requests to the four routes: never a 5xx, every error in the one envelope."""
    from hypothesis import HealthCheck, given, settings

    seed_alerts(server_engine, now=END)
    app = create_app(make_settings(tmp_path, server_no_auth=True), engine=server_engine)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked = 0
    for path, method in [("/v1/alerts", "GET"), ("/v1/alerts/{alert_id}/ack", "POST"), ("/v1/drift", "GET"),
                         ("/v1/canary", "GET")]:  # fmt: skip
        operation = schema[path][method]

        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            response = case.call()
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                payload = response.json()
                assert set(payload) == {"ok", "error", "status"} and payload["status"] == response.status_code

        check()
        checked += 1
    assert checked == 4


@pytest.mark.parametrize(
    ("path", "text"),
    [("/alerts", "No alerts"), ("/drift", "Not enough traces"), ("/canary", "No prompt versions in the data yet")],
)
def test_pages_on_an_empty_database(client: TestClient, keys: dict[str, str], path: str, text: str) -> None:
    page = client.get(path, headers=_auth(keys, "read"))
    assert page.status_code == 200 and text in page.text
    assert "<script>" not in page.text and 'href="/alerts"' in page.text  # no inline script; the nav links the pages
