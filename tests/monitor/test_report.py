"""The model card (`llmmon report`): numbers per prompt version, open alerts, eval gate, SVG charts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from llmmon.cli import app
from llmmon.monitor.alerts import AlertMonitor, RegistryMetrics
from llmmon.monitor.report import build_model_card, render_html, render_markdown
from llmmon.monitor.rules import parse_rules
from llmmon.storage import latency_histogram
from llmmon.storage.engine import make_engine
from llmmon.storage.models import EvalRun
from tests.monitor.traffic import Answer, write_answers

NOW = datetime.now(UTC).replace(microsecond=0)


def _traffic(seed: int = 0) -> list[Answer]:
    rng = random.Random(seed)
    answers = []
    for day in range(3):
        for i in range(40):
            at = NOW - timedelta(days=3 - day, seconds=-i * 60)
            answers.append(Answer(at=at, prompt_version="v3", hallucinated=rng.random() < 0.02, latency_ms=700))
            # v4 gets worse every day: 10%, 20%, 30%
            answers.append(
                Answer(at=at, prompt_version="v4", hallucinated=rng.random() < 0.1 * (day + 1), latency_ms=900,
                       thumbs="down" if i % 4 == 0 else "up", status="error" if i % 20 == 0 else "ok")
            )  # fmt: skip
    return answers


def _gate_run(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(
            EvalRun(
                id="run-1", suite_name="support", suite_hash="h", case_hashes="{}", target_label="bot",
                target_fingerprint="f", label="v4", judge_prompt_hashes="{}", llmmon_version="0.1.0",
                started_at=NOW - timedelta(days=4), status="complete", passed=18, failed=2, decision="regression",
            )
        )  # fmt: skip
        session.commit()


def test_model_card_has_each_version_with_its_numbers_alerts_and_gate(engine: Engine) -> None:
    answers = _traffic()
    write_answers(engine, answers)
    _gate_run(engine)
    rule = {"id": "halluc", "metric": "hallucination_rate", "group_by": "prompt_version", "window": "1d",
            "threshold": 0.15, "min_volume": 10}  # fmt: skip
    AlertMonitor(engine, parse_rules({"rules": [rule]}, known_metrics=RegistryMetrics().known_metrics())).evaluate(
        now=NOW
    )
    card = build_model_card(engine, start=NOW - timedelta(days=7), end=NOW + timedelta(minutes=1))
    by_version = {v.prompt_version: v for v in card.versions}
    assert set(by_version) == {"v3", "v4"}
    v3, v4 = by_version["v3"], by_version["v4"]
    assert v3.metrics["volume"] == 120 and v4.metrics["volume"] == 120
    assert v4.metrics["error_rate"] is not None and v4.metrics["error_rate"] > 0
    assert v3.metrics["error_rate"] == 0
    assert v4.metrics["hallucination_rate"] > v3.metrics["hallucination_rate"]  # type: ignore[operator]
    assert v4.hallucination_trend == "rising" and len(card.days) == 3
    assert v4.metrics["thumbs_down_rate"] == 0.25 and v3.metrics["thumbs_down_rate"] is None
    # read from the hourly roll-ups: a histogram percentile within the documented error
    assert v4.metrics["latency_p99"] == pytest.approx(900, rel=latency_histogram.RELATIVE_ERROR)
    assert v4.metrics["cost_total"] == sum(a.cost_usd or 0 for a in answers if a.prompt_version == "v4")
    assert len(v4.open_alerts) == 1 and "halluc" in v4.open_alerts[0] and v3.open_alerts == []
    assert v4.last_gate is not None and v4.last_gate.startswith("regression (support, run run-1")
    assert v3.last_gate is None
    assert v4.models == ["gpt-4o-mini"]

    markdown = render_markdown(card)
    assert "## support-answer v4" in markdown and "| Hallucination rate |" in markdown and "(rising)" in markdown
    assert "none recorded" in markdown and "#1 halluc" in markdown
    html = render_html(card)
    assert html.count("<svg") == 4 and "Hallucination rate by day" in html and "<h2>support-answer v4</h2>" in html


def test_model_card_of_an_empty_period_says_so(engine: Engine) -> None:
    card = build_model_card(engine, start=NOW - timedelta(days=7), end=NOW)
    assert card.versions == [] and "No traffic in this period." in render_markdown(card)


def test_report_cli_writes_markdown_and_html(tmp_path: Path) -> None:
    db = tmp_path / "llmmon.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        from llmmon.storage.migrate import upgrade_database

        upgrade_database(engine)
        write_answers(engine, _traffic(1))
    finally:
        engine.dispose()
    runner = CliRunner()
    md = runner.invoke(app, ["report", "--since", "7d", "--db", str(db)])
    assert md.exit_code == 0, md.output
    assert "## support-answer v3" in md.output
    out = tmp_path / "card.html"
    html = runner.invoke(app, ["report", "--since", "7d", "--format", "html", "--output", str(out), "--db", str(db)])
    assert html.exit_code == 0 and "written to" in html.output
    assert out.read_text().count("<svg") == 4
    bad = runner.invoke(app, ["report", "--since", "a week", "--db", str(db)])
    assert bad.exit_code == 2 and "invalid time" in bad.output
