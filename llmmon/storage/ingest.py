"""Bulk, idempotent insert of span rows: the only SQL the tracing writer runs.

One ``executemany`` per batch (SQLAlchemy Core; on PostgreSQL psycopg gets multi-row
VALUES pages) with ``ON CONFLICT (span_id) DO NOTHING``, so replaying a spool that was
partly written already -- or a batch retried after a lost commit acknowledgement --
stores every span exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from llmmon.errors import StorageError
from llmmon.storage.models.tracing import Span

__all__ = ["insert_span_rows"]

_SPAN_TABLE: Table = Span.__table__  # type: ignore[attr-defined]


def insert_span_rows(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with every ``span`` column) and skip span ids already stored."""
    if not rows:
        return
    dialect = connection.dialect.name
    if dialect == "sqlite":
        statement: Any = sqlite.insert(_SPAN_TABLE).on_conflict_do_nothing(index_elements=["span_id"])
    elif dialect == "postgresql":
        statement = postgresql.insert(_SPAN_TABLE).on_conflict_do_nothing(index_elements=["span_id"])
    else:
        raise StorageError(f"unsupported database dialect for span ingest: {dialect}")
    connection.execute(statement, list(rows))
