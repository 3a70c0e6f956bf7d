"""docs/grafana-dashboard.json: a well-formed dashboard whose queries use only metrics and labels /metrics exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from llmmon.server.app import create_app
from tests.server.conftest import make_settings

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
_SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def _exported(tmp_path: Path, server_engine: Engine) -> tuple[set[str], dict[str, set[str]]]:
    """Metric family names (# TYPE lines) and, per sample name, the label names seen."""
    settings = make_settings(tmp_path, server_no_auth=True)
    span = {"span_id": "s1", "trace_id": "t1", "name": "chat", "kind": "llm", "model": "gpt-4o-mini",
            "prompt_version": "v1", "input_tokens": 10, "output_tokens": 3, "start_time": "2026-01-01T00:00:00Z",
            "latency_ms": 120}  # fmt: skip
    with TestClient(create_app(settings, engine=server_engine)) as client:
        assert client.post("/v1/traces", json={"spans": [span]}).status_code == 200
        assert client.post("/v1/feedback", json={"trace_id": "t1", "value": "down"}).status_code == 200
        exposition = client.get("/metrics").text
    families = {line.split()[2] for line in exposition.splitlines() if line.startswith("# TYPE ")}
    labels: dict[str, set[str]] = {}
    for line in exposition.splitlines():
        match = re.match(r"^([a-z_]+)\{([^}]*)\}", line)
        if match:
            names = set(re.findall(r'([a-z_]+)="', match.group(2)))
            labels.setdefault(match.group(1), set()).update(names)
    return families, labels


def test_dashboard_is_well_formed_and_covers_the_issue_panels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "llmmon-overview" and dashboard["schemaVersion"] >= 36
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    occupied: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        cells = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"panel {panel['title']!r} overlaps another"
        occupied |= cells
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["targets"] and all(target["expr"] for target in panel["targets"])
    expressions = " ".join(target["expr"] for panel in panels for target in panel.get("targets", []))
    for needed in (
        "histogram_quantile(0.99, sum by (le, route) (rate(llmmon_http_request_duration_seconds_bucket",
        "llmmon_tokens_total",
        "llmmon_cost_usd_total",
        "llmmon_llm_errors_total",
        'llmmon_http_request_duration_seconds_count{status=~"5.."}',
        "llmmon_answer_checks_total",
        "llmmon_feedback_received_total",
        "llmmon_feedback_votes_total",
    ):
        assert needed in expressions, needed


def test_dashboard_queries_use_exported_metrics_and_labels(tmp_path: Path, server_engine: Engine) -> None:
    families, labels = _exported(tmp_path, server_engine)
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    queries += [variable["definition"] for variable in dashboard["templating"]["list"] if "definition" in variable]
    for query in queries:
        for name in re.findall(r"\bllmmon_[a-z_]+", query):
            base = next((name.removesuffix(suffix) for suffix in _SUFFIXES if name.endswith(suffix)), name)
            assert name in families or base in families, f"{name} in {query!r} is not exported"
            used = set(re.findall(rf"{name}\{{([^}}]*)\}}", query))
            used_labels = {label for selector in used for label in re.findall(r"([a-z_]+)\s*=~?", selector)}
            if name in labels:  # samples present: every label the query filters on exists
                assert used_labels <= labels[name], (name, used_labels, labels[name])
        for grouping in re.findall(r"by \(([^)]*)\)", query):
            grouped = {label.strip() for label in grouping.split(",")} - {"le"}
            metrics = [name for name in re.findall(r"\bllmmon_[a-z_]+", query) if name in labels]
            assert all(grouped <= labels[name] for name in metrics), (query, grouped)
