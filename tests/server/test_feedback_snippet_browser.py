"""The JavaScript snippet of docs/feedback-snippet.md, as documented, in a real headless Chromium.

The page is served from another origin than the llmmon server (another port on 127.0.0.1), so
the browser applies CORS exactly as on a shop's site: the allowed origin's vote is stored, a
second click replaces it, and a page from an origin that is not allowed records nothing.
Skipped locally when chromium or playwright is missing; under ``CI=true`` that is a failure.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from llmmon.server.app import create_app
from llmmon.server.tokens import make_feedback_token
from llmmon.storage.feedback import feedback_for_trace, feedback_history
from tests.server.conftest import LiveServer, make_settings
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, require_browser

pytestmark = [pytest.mark.browser]

DOC = Path(__file__).resolve().parents[2] / "docs" / "feedback-snippet.md"
TRACE = "5b8efff798038103d269b633813fc60c"


def _snippet(endpoint: str, trace_id: str, token: str) -> str:
    block = re.search(r"```html\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None, "docs/feedback-snippet.md has no html block"
    html = block.group(1)
    assert '"https://llmmon.example.com/v1/feedback"' in html
    html = html.replace('"https://llmmon.example.com/v1/feedback"', f'"{endpoint}"')
    html = html.replace("{{ trace_id }}", trace_id).replace("{{ feedback_token }}", token)
    return f"<!doctype html><html><head><meta charset='utf-8'><title>shop</title></head><body>{html}</body></html>"


class _Site:
    """A stand-in for the shop's site on its own origin: serves ``html`` at /."""

    def __init__(self) -> None:
        self.html = ""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> _Site:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def _click_and_read_status(page: Any, origin: str, value: str) -> str:
    page.goto(origin + "/")
    page.click(f".llmmon-feedback button[data-value='{value}']")
    page.wait_for_function("document.querySelector('.llmmon-feedback-status').textContent.length > 0")
    status: str = page.inner_text(".llmmon-feedback-status")
    return status


def test_snippet_votes_from_an_allowed_origin_and_not_from_another(tmp_path: Path, server_engine: Engine) -> None:
    sync_playwright = require_browser()
    token = make_feedback_token(b"test-secret-key", TRACE, ttl_s=600)
    with _Site() as shop, _Site() as other_site:
        settings = make_settings(tmp_path, server_cors_origins=[shop.origin])
        with LiveServer(create_app(settings, engine=server_engine)) as server:
            shop.html = other_site.html = _snippet(f"{server.url}/v1/feedback", TRACE, token)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page()
                    errors: list[str] = []
                    page.on("pageerror", lambda error: errors.append(str(error)))
                    assert _click_and_read_status(page, shop.origin, "down") == "Thanks for the feedback!"
                    assert page.get_attribute("button[data-value='down']", "aria-pressed") == "true"
                    assert page.get_attribute("button[data-value='up']", "aria-pressed") == "false"
                    assert _click_and_read_status(page, shop.origin, "up") == "Thanks for the feedback!"
                    blocked = _click_and_read_status(page, other_site.origin, "down")
                    assert errors == []
                finally:
                    browser.close()
    assert blocked == "Vote not recorded (network error)."  # the CORS preflight was refused
    assert [vote.value for vote in feedback_for_trace(server_engine, TRACE)] == ["up"]  # replaced, one current
    # A JSON POST is always preflighted, so the other origin's vote never reached the endpoint.
    assert [vote.value for vote in feedback_history(server_engine, TRACE)] == ["down", "up"]
