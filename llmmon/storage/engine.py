"""Engine factory: one place that knows the SQLite pragmas and the PostgreSQL driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from llmmon.config import normalise_database_url

__all__ = ["is_sqlite", "make_engine", "sqlite_path"]


def is_sqlite(url: str) -> bool:
    """True for sqlite:// URLs."""
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for in-memory or other databases)."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    return Path(database)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the dashboard read while the writer thread writes; NORMAL sync is
    # durable across application crashes (only an OS crash can lose the last commit).
    # A 64 MB page cache (negative = KiB): span and trace ids are random, so every batch
    # inserts at random positions of their B-trees; the default 2 MB cache keeps re-reading
    # those pages. Temporary structures (sorts, big statements) stay in memory.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, foreign keys and a 64 MB page cache, PostgreSQL uses psycopg 3."""
    url = normalise_database_url(url)
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None and path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 5}, **kwargs)
        event.listen(engine, "connect", _set_sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)
