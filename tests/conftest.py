"""Shared fixtures: real SQLite files under tmp_path, and a real throw-away PostgreSQL server.

``db_url`` is parametrised: every test that takes it runs on SQLite, and again on
PostgreSQL (marked ``postgres``). Set ``LLMMON_TEST_POSTGRES=0`` to skip PostgreSQL
locally; in CI (``CI=true``) a PostgreSQL server that cannot start is an error.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database
from tests.support.pgserver import PostgresServer

_IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session, stopped at the end."""
    if os.environ.get("LLMMON_TEST_POSTGRES", "1") == "0" and not _IN_CI:
        pytest.skip("PostgreSQL tests disabled by LLMMON_TEST_POSTGRES=0")
    try:
        # Not under pytest's tmp dir: that is private to root, and the server runs as 'postgres'.
        server = PostgresServer(Path(tempfile.mkdtemp(prefix="llmmon-pg-")))
        server.init()
        server.start()
    except (RuntimeError, OSError) as exc:
        if _IN_CI:
            raise
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    with contextlib.suppress(subprocess.CalledProcessError):  # a test may have stopped it already
        server.stop("immediate")
    shutil.rmtree(server.base_dir, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty database: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'llmmon.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A URL of a SQLite file in tmp_path (for tests that are about SQLite only)."""
    return f"sqlite:///{tmp_path / 'llmmon.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url`` with the schema migrated to head; disposed after the test."""
    engine = make_engine(db_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()
