"""Bulk, idempotent insert of span rows: the only SQL the tracing writer runs.

One ``executemany`` per batch through SQLAlchemy Core (on PostgreSQL an ``insert()``
that SQLAlchemy sends as multi-row VALUES pages; on SQLite a plain statement with named
parameters handed to sqlite3's executemany) with ``ON CONFLICT (span_id) DO NOTHING``, so replaying a spool that was
partly written already -- or a batch retried after a lost commit acknowledgement --
stores every span exactly once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql

from llmmon.errors import StorageError
from llmmon.storage.models.tracing import Span

__all__ = ["insert_span_rows"]

_SPAN_TABLE: Table = Span.__table__  # type: ignore[attr-defined]
_COLUMNS = [column.name for column in _SPAN_TABLE.columns]
_DATETIME_COLUMNS = ("start_time", "end_time")
# SQLite: named placeholders take the row dicts as they are, straight to sqlite3's
# executemany; SQLAlchemy's per-value bind processing would cost more than the insert.
_SQLITE_INSERT = (
    f"INSERT INTO {_SPAN_TABLE.name} ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(':' + name for name in _COLUMNS)}) ON CONFLICT (span_id) DO NOTHING"
)


def _sqlite_datetime(value: Any) -> Any:
    """The text SQLAlchemy's SQLite DateTime stores: naive UTC with microseconds."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    return value


def _sqlite_params(row: Mapping[str, Any]) -> dict[str, Any]:
    params = dict(row)
    for column in _DATETIME_COLUMNS:
        params[column] = _sqlite_datetime(params[column])
    return params


def insert_span_rows(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with every ``span`` column) and skip span ids already stored."""
    if not rows:
        return
    dialect = connection.dialect.name
    if dialect == "sqlite":
        connection.exec_driver_sql(_SQLITE_INSERT, [_sqlite_params(row) for row in rows])
    elif dialect == "postgresql":
        statement = postgresql.insert(_SPAN_TABLE).on_conflict_do_nothing(index_elements=["span_id"])
        connection.execute(statement, list(rows))
    else:
        raise StorageError(f"unsupported database dialect for span ingest: {dialect}")
