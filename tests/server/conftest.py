"""Server fixtures: an app on a migrated SQLite file behind TestClient, and a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from llmmon.config import Settings
from llmmon.server.app import create_app
from llmmon.server.keys import create_key
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from tests.support.net import free_port


@dataclass
class ServerHarness:
    """What a server test needs: settings, engine, the client and one key per scope."""

    settings: Settings
    engine: Engine
    client: TestClient
    keys: dict[str, str]

    def auth(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'server.db'}",
        "server_key_cache_s": 0.0,
        "secret_key": "test-secret-key",
        "spool_dir": tmp_path / "spool",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def server_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'server.db'}")
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def harness(tmp_path: Path, server_engine: Engine) -> Iterator[ServerHarness]:
    settings = make_settings(tmp_path)
    keys = {scope: create_key(server_engine, scope=scope, name=scope)[1] for scope in ("ingest", "read", "admin")}
    with TestClient(create_app(settings, engine=server_engine)) as client:
        yield ServerHarness(settings, server_engine, client, keys)


class LiveServer:
    """uvicorn serving an app in a thread on 127.0.0.1:<free port>."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="uvicorn-test", daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture
def live_harness(tmp_path: Path, server_engine: Engine) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    settings = make_settings(tmp_path)
    keys = {scope: create_key(server_engine, scope=scope)[1] for scope in ("ingest", "read", "admin")}
    with LiveServer(create_app(settings, engine=server_engine)) as server:
        yield server, keys
