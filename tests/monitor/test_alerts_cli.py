"""`llmmon monitor`, `llmmon alerts list|ack`, `llmmon canary report`: the real CLI on a SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from llmmon.cli import app
from llmmon.monitor.alerts import list_alerts
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from tests.monitor.traffic import Answer, write_answers
from tests.monitor.webhook_server import WebhookServer

runner = CliRunner()
NOW = datetime.now(UTC).replace(microsecond=0)


def _database(tmp_path: Path, answers: list[Answer]) -> str:
    path = tmp_path / "llmmon.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade_database(engine)
        write_answers(engine, answers)
    finally:
        engine.dispose()
    return str(path)


def test_monitor_once_opens_alerts_notifies_and_alerts_list_and_ack_show_them(tmp_path: Path) -> None:
    at = NOW - timedelta(minutes=3)
    db = _database(
        tmp_path, [Answer(at=at + timedelta(seconds=i), status="error" if i % 2 else "ok") for i in range(30)]
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {id: errors, metric: error_rate, window: 10m, op: '>', threshold: 0.2, min_volume: 10}\n"
    )
    with WebhookServer() as hook:
        result = runner.invoke(
            app, ["monitor", "--once", "--rules", str(rules), "--db", db, "--webhook", hook.url, "--json"]
        )
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output)
        assert len(summary["opened"]) == 1 and summary["deliveries"][0]["ok"] is True
        assert "[FIRING] errors" in hook.received[0]["text"]
        again = runner.invoke(app, ["monitor", "--rules", str(rules), "--db", db, "--webhook", hook.url, "--json"])
        assert json.loads(again.output)["opened"] == [] and len(hook.received) == 1

    listed = runner.invoke(app, ["alerts", "list", "--db", db, "--json"])
    (alert,) = json.loads(listed.output)
    assert alert["rule_id"] == "errors" and alert["state"] == "open"
    table = runner.invoke(app, ["alerts", "list", "--db", db])
    assert "errors" in table.output and "1/1" in table.output
    acked = runner.invoke(app, ["alerts", "ack", str(alert["id"]), "--by", "bob", "--db", db])
    assert acked.exit_code == 0 and "acked" in acked.output
    engine = make_engine(f"sqlite:///{db}")
    try:
        assert [(a.state, a.acked_by) for a in list_alerts(engine)] == [("acked", "bob")]
    finally:
        engine.dispose()
    missing = runner.invoke(app, ["alerts", "ack", "999", "--db", db])
    assert missing.exit_code == 2 and "no alert with id 999" in missing.output


def test_monitor_with_an_unknown_metric_exits_2_naming_the_rule(tmp_path: Path) -> None:
    db = _database(tmp_path, [])
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {id: p99, metric: latency_p999, threshold: 100}\n")
    result = runner.invoke(app, ["monitor", "--rules", str(rules), "--db", db])
    assert result.exit_code == 2
    assert "rules[0] 'p99': unknown metric 'latency_p999'" in result.output and "latency_p99" in result.output


def test_canary_report_cli_prints_the_verdict(tmp_path: Path) -> None:
    start = NOW - timedelta(hours=1)
    answers = [
        Answer(at=start + timedelta(seconds=i), prompt_version="v4" if i % 3 == 0 else "v3",
               hallucinated=(i % 3 == 0 and i % 2 == 0) or i % 50 == 1)
        for i in range(900)
    ]  # fmt: skip
    db = _database(tmp_path, answers)
    result = runner.invoke(
        app, ["canary", "report", "--prompt", "support-answer", "--baseline", "v3", "--candidate", "v4", "--db", db]
    )
    assert result.exit_code == 0, result.output
    assert "Verdict: roll back" in result.output and "hallucination rate" in result.output
    as_json = runner.invoke(
        app,
        [
            "canary",
            "report",
            "--prompt",
            "support-answer",
            "--baseline",
            "v3",
            "--candidate",
            "v4",
            "--db",
            db,
            "--json",
        ],
    )
    assert json.loads(as_json.output)["verdict"] == "roll back"
