"""The dashboard in a real headless Chromium (Debian's chromium, driven by Playwright) against a real
uvicorn server on 127.0.0.1 with a database filled by the demo chatbot, fact checks and votes.

Skipped locally when chromium or playwright is missing; under ``CI=true`` that is a failure.
The overview screenshot is written to ``test-artifacts/overview.png``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmmon.storage.engine import make_engine
from tests.server.read_data import KB_DIR
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, require_browser, serve_no_auth

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"




def _llmmon(*args: str, db: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "llmmon", *args, "--db", db],
        check=True,
        cwd=ROOT,
        capture_output=True,
        timeout=180,
        env=os.environ | {"LLMMON_DEMO_FAULT": ""},
    )


def _fill_database(db_url: str) -> None:
    """The demo workload (with the wrong-prices fault), the demo KB, fact checks of 40 answers, eval runs."""
    _llmmon("demo", "--questions", "120", "--fault", "prices", db=db_url)
    from llmmon.checks.factcheck import FactChecker
    from llmmon.checks.store import save_check
    from llmmon.cli.factcheck import trace_inputs
    from llmmon.errors import ConfigError
    from llmmon.knowledge.index import load_index
    from llmmon.knowledge.store import ingest_paths
    from llmmon.storage import repo
    from tests.server.read_data import _seed_evals

    engine = make_engine(db_url)
    try:
        ingest_paths(engine, "support", [KB_DIR])
        index = load_index(engine, "support")
        checker = FactChecker(index)
        for trace in repo.list_traces(engine, status="ok", limit=40).data:
            try:
                trace_id, question, answer, context = trace_inputs(engine, trace.trace_id)
            except ConfigError as exc:  # a trace without a text answer (an order look-up) is not checked
                assert "no text output" in str(exc), exc
                continue
            result = checker.check(answer, question=question, context=context)
            save_check(engine, result, trace_id=trace_id, kb_name="support", kb_version=index.version_hash)
        with engine.begin() as connection:
            _seed_evals(connection)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A uvicorn server (``llmmon serve --no-auth``-equivalent app factory) on a demo-filled SQLite file."""
    require_browser()
    db_url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'llmmon.db'}"
    _fill_database(db_url)
    with serve_no_auth(db_url) as base:
        # Votes through the real feedback endpoint: every fifth of the checked traces gets a thumbs-down.
        traces = httpx.get(f"{base}/v1/traces", params={"limit": 40}).json()["data"]
        for i, trace in enumerate(traces):
            vote = {"trace_id": trace["trace_id"], "value": "down" if i % 5 == 0 else "up", "user_id": f"u{i}"}
            assert httpx.post(f"{base}/v1/feedback", json=vote).status_code < 300
        yield base


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    sync_playwright = require_browser()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
    tab.console_errors = errors
    yield tab
    context.close()


def _visit(page: Any, url: str) -> None:
    response = page.goto(url, wait_until="networkidle")
    assert response is not None and response.status == 200, url
    assert page.console_errors == [], (url, page.console_errors)


def test_every_page_loads_without_console_errors(page: Any, server: str) -> None:
    _visit(page, f"{server}/")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
    assert page.locator("svg.chart").count() >= 10
    assert int(page.locator("#kpi-traces").inner_text().replace(",", "")) > 0
    for path in ("/?range=24h", "/?range=all", "/traces", "/evals", "/knowledge"):
        _visit(page, f"{server}{path}")
    page.locator("#kbs a").first.click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#documents tbody tr").count() > 0
    _visit(page, f"{server}/evals")
    page.locator("#compare-form button").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#newly-failing").inner_text() == "1"
    assert page.console_errors == []


def test_trace_page_shows_span_tree_and_highlighted_evidence(page: Any, server: str) -> None:
    checked = [
        t for t in httpx.get(f"{server}/v1/traces", params={"limit": 40}).json()["data"]
        if httpx.get(f"{server}/v1/traces/{t['trace_id']}/claims").json()["count"]
    ]  # fmt: skip
    assert checked, "the fixture fact-checked some traces"
    _visit(page, f"{server}/traces/{checked[0]['trace_id']}")
    assert page.locator("#spans tbody tr").count() >= 2
    assert page.locator("#claims li").count() >= 1
    assert page.locator("#claims mark").count() >= 1
    assert page.locator("#feedback tbody tr").count() >= 1


def test_filters_change_the_trace_table(page: Any, server: str) -> None:
    _visit(page, f"{server}/traces")
    total = int(page.locator("#trace-count").inner_text().replace(",", ""))
    page.select_option("#status", "error")  # the script submits the form on change
    page.wait_for_url("**/traces?status=error**")
    page.wait_for_load_state("networkidle")
    errors = int(page.locator("#trace-count").inner_text().replace(",", ""))
    assert 0 < errors < total
    assert page.locator("#traces tbody tr").count() == min(errors, 50)
    assert page.locator("#traces tbody tr.row-error").count() == min(errors, 50)
    page.fill("#q", "warranty")
    page.locator("#trace-filters button").click()
    page.wait_for_load_state("networkidle")
    searched = int(page.locator("#trace-count").inner_text().replace(",", ""))
    expected = httpx.get(f"{server}/v1/traces", params={"status": "error", "q": "warranty"}).json()["count"]
    assert searched == expected < errors
    assert page.console_errors == []
