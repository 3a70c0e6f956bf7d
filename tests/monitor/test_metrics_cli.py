"""`llmmon metrics`, `llmmon subgroups` and `llmmon drift` on a SQLite file with seeded traffic."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from llmmon.cli import app
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from tests.monitor.metrics_traffic import BASE, mixed_traffic, store


def _db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = make_engine(url)
    try:
        upgrade_database(engine)
        store(engine, mixed_traffic(seed=3, start=BASE) + mixed_traffic(seed=4, start=BASE + timedelta(days=1)))
    finally:
        engine.dispose()
    return url


def test_cli_metrics_subgroups_drift(tmp_path: Path) -> None:
    url = _db(tmp_path)
    runner = CliRunner()
    end = (BASE + timedelta(days=2)).isoformat()
    result = runner.invoke(app, ["metrics", "--db", url, "--window", "1d", "--end", end, "--by", "model", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    volumes = {v["labels"]["model"]: v["volume"] for v in data["metrics"]["volume"]}
    assert sum(volumes.values()) == 400 and set(volumes) == {"gpt-4o", "gpt-4o-mini"}

    table = runner.invoke(app, ["metrics", "--db", url, "--window", "2d", "--end", end, "-m", "error_rate"])
    assert table.exit_code == 0 and "n=800" in table.output, table.output

    bad = runner.invoke(app, ["metrics", "--db", url, "--end", end, "-m", "latency_p95"])
    assert bad.exit_code == 2 and "unknown metric 'latency_p95'" in bad.output

    sub = runner.invoke(
        app, ["subgroups", "--db", url, "--metric", "error_rate", "--by", "metadata:tier", "--end", end, "--json"]
    )
    assert sub.exit_code == 0, sub.output
    assert {g["labels"]["metadata.tier"] for g in json.loads(sub.output)["groups"]} == {"free", "pro", "enterprise"}

    drift = runner.invoke(
        app, ["drift", "--db", url, "--reference", "1d", "--current", "1d", "--end", end, "--feature", "latency_ms",
              "--json"]
    )
    assert drift.exit_code == 0, drift.output
    assert json.loads(drift.output)["drifted"] == []
