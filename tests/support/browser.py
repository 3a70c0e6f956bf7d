"""Headless Chromium (Debian's, driven by Playwright) and a no-auth llmmon server for the browser tests.

Skipped locally when chromium or playwright is missing; under ``CI=true`` that is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.net import free_port

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags Chromium keeps dialling out, and this machine's closed network
# refuses those connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_ROOT = Path(__file__).resolve().parents[2]


def require_browser() -> Any:
    """Playwright's ``sync_playwright``; skips (or fails under CI) when the browser is missing."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (scripts/test.sh installs Debian's chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = reason or "the playwright package is missing (pip install -e '.[dev]')"
    if reason is not None:
        if _IN_CI:
            pytest.fail(f"browser tests are required under CI=true: {reason}")
        pytest.skip(reason)
    return sync_playwright


@contextmanager
def serve_no_auth(db_url: str) -> Iterator[str]:
    """A uvicorn server (the ``llmmon serve --no-auth`` app) on 127.0.0.1; yields its base URL."""
    port = free_port()
    code = (
        "import uvicorn; from llmmon.config import Settings; from llmmon.server.app import create_app; "
        f"uvicorn.run(create_app(Settings(database_url={db_url!r}, server_no_auth=True)), "
        f"host='127.0.0.1', port={port}, log_level='warning')"
    )
    process = subprocess.Popen([sys.executable, "-c", code], cwd=_ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/v1/alerts", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the uvicorn server did not come up")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
