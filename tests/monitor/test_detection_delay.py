"""Detection delay (issue 6 target): a prompt version that quotes wrong prices in 20% of its
answers at 1 request/s is alerted on within 5 minutes of its traffic by the shipped default
rules; the same scenario without the fault raises no alert at all (fixed seeds)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from llmmon.monitor.alerts import RegistryMetrics
from llmmon.monitor.rules import load_rules
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from tests.monitor.scenario import replay


def _replay(tmp_path: Path, *, fault: bool, seed: int):  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / f'replay-{fault}-{seed}.db'}")
    try:
        upgrade_database(engine)
        rules = load_rules(None, known_metrics=RegistryMetrics().known_metrics())
        return replay(engine, rules, fault=fault, seed=seed)
    finally:
        engine.dispose()


@pytest.mark.parametrize("seed", [1])
def test_wrong_prices_in_20_percent_of_answers_alert_within_5_minutes(tmp_path: Path, seed: int) -> None:
    result = _replay(tmp_path, fault=True, seed=seed)
    assert "hallucination-rate" in result.first_alert, result.first_alert
    delay = result.first_alert["hallucination-rate"]
    assert timedelta(0) < delay <= timedelta(minutes=5)
    assert result.labels["hallucination-rate"]["prompt_version"] == "v2"
    # The fault shows in hallucinations only: no other default rule fired.
    assert set(result.first_alert) <= {"hallucination-rate", "thumbs-down-rate"}


@pytest.mark.parametrize("seed", [1])
def test_same_scenario_without_the_fault_raises_no_alert(tmp_path: Path, seed: int) -> None:
    result = _replay(tmp_path, fault=False, seed=seed)
    assert result.evaluations == 35 and result.answers == 35 * 60
    assert result.first_alert == {}
