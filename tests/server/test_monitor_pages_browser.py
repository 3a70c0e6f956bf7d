"""The Alerts, Drift and Canary pages in a real headless Chromium against a real uvicorn server on a
SQLite file seeded with stored alerts, drifting traffic and a canary of two prompt versions.

Reuses the browser fixtures of ``test_dashboard_browser.py`` (skipped locally without chromium or
playwright; a failure under ``CI=true``). Writes ``test-artifacts/alerts.png``, ``drift.png`` and ``canary.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from tests.server import test_dashboard_browser as dashboard_browser
from tests.server.monitor_data import seed_alerts, seed_canary, seed_drift
from tests.server.test_dashboard_browser import ARTIFACTS, _visit
from tests.support.browser import require_browser, serve_no_auth

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# The Chromium fixtures of the dashboard test; ``browser`` asks for this module's ``server``.
browser = dashboard_browser.browser
page = dashboard_browser.page


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A no-auth uvicorn server on a SQLite file with alerts, drift over the last day, and a canary."""
    require_browser()
    db_url = f"sqlite:///{tmp_path_factory.mktemp('monitor-pages') / 'llmmon.db'}"
    engine = make_engine(db_url)
    try:
        upgrade_database(engine)
        now = datetime.now(UTC).replace(microsecond=0)
        seed_alerts(engine, now=now)
        seed_drift(engine, end=now)
        seed_canary(engine, start=now - timedelta(hours=3))
    finally:
        engine.dispose()
    with serve_no_auth(db_url) as base:
        yield base


def test_alerts_page_acks_an_alert(page: Any, server: str) -> None:
    _visit(page, f"{server}/alerts")
    assert page.locator("#alerts tbody tr.alert-row").count() == 3
    assert page.locator("#count-open").inner_text() == "1"
    assert page.locator("#alerts .deliveries li").count() == 2
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "alerts.png"), full_page=True)
    page.locator("#alerts form.ack-form button").click()
    page.wait_for_url("**/alerts**")
    page.wait_for_load_state("networkidle")
    assert page.locator("#count-open").inner_text() == "0"
    assert page.locator("#count-acked").inner_text() == "2"
    assert page.locator("#alerts form.ack-form").count() == 0
    assert httpx.get(f"{server}/v1/alerts", params={"state": "open"}).json()["count"] == 0
    page.select_option("#severity", "critical")  # the script submits the filter form on change
    page.wait_for_url("**/alerts?severity=critical**")
    assert page.locator("#alerts tbody tr.alert-row").count() == 1
    assert page.console_errors == []


def test_drift_page_shows_the_shift_and_changes_window(page: Any, server: str) -> None:
    _visit(page, f"{server}/drift")
    ARTIFACTS.mkdir(exist_ok=True)
    assert "drifted" in page.locator("#feature-latency_ms .drift-flag").inner_text()
    assert page.locator("#chart-latency_ms svg.chart").count() == 2
    page.screenshot(path=str(ARTIFACTS / "drift.png"), full_page=True)
    drifted = int(page.locator("#drifted-count").inner_text())
    assert drifted >= 1
    page.select_option("#reference", "1d")
    page.wait_for_url("**/drift?**reference=1d**")
    page.wait_for_load_state("networkidle")
    assert "drifted" in page.locator("#feature-latency_ms .drift-flag").inner_text()
    assert "1d" in page.locator("#reference").input_value()
    assert page.console_errors == []


def test_canary_page_shows_the_verdict_per_metric(page: Any, server: str) -> None:
    _visit(page, f"{server}/canary")
    assert page.locator("#prompt").input_value() == "support-answer"
    assert (page.locator("#baseline").input_value(), page.locator("#candidate").input_value()) == ("v3", "v4")
    assert page.locator("#verdict").inner_text() == "roll back"
    assert page.locator("#canary-table tbody tr").count() == 5
    assert "worse" in page.locator("#metric-hallucination_rate").inner_text()
    assert page.locator("#metric-hallucination_rate svg.interval").count() == 1
    page.screenshot(path=str(ARTIFACTS / "canary.png"), full_page=True)
    page.select_option("#window", "1h")  # the canary traffic is 2-3 hours old: nothing in the last hour
    page.wait_for_url("**window=1h**")
    page.wait_for_load_state("networkidle")
    assert page.locator("#verdict").inner_text() == "keep waiting"
    assert "no traffic" in page.locator("#verdict-reason").inner_text()
    assert page.console_errors == []
