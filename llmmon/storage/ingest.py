"""Bulk, idempotent insert of span rows: the only SQL the tracing writer runs.

One ``executemany`` per batch through SQLAlchemy Core's ``exec_driver_sql``: a plain
``INSERT ... ON CONFLICT (span_id) DO NOTHING`` handed to the driver's executemany
(sqlite3; psycopg 3, which pipelines it). Going through SQLAlchemy's ``insert()``
construct costs more per row in bind processing than the database spends inserting it
(measured in benchmarks/bench_writer_ingest.py). Thanks to ``ON CONFLICT DO NOTHING``,
replaying a spool that was partly written already -- or a batch retried after a lost
commit acknowledgement -- stores every span exactly once.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table

from llmmon.errors import StorageError
from llmmon.storage.models.tracing import Span

__all__ = ["insert_span_rows"]

_SPAN_TABLE: Table = Span.__table__  # type: ignore[attr-defined]
_DATETIME_COLUMNS = ("start_time", "end_time")
# Datetime columns last, so a row's values are one C-level itemgetter call plus two conversions.
_COLUMNS = [c.name for c in _SPAN_TABLE.columns if c.name not in _DATETIME_COLUMNS] + list(_DATETIME_COLUMNS)
_PLAIN_VALUES = operator.itemgetter(*_COLUMNS[: -len(_DATETIME_COLUMNS)])
# SQLite: positional parameters straight to sqlite3's executemany. SQLAlchemy's per-value
# bind processing, or named parameters, cost more per row than SQLite spends inserting it.
_SQLITE_INSERT = (
    f"INSERT INTO {_SPAN_TABLE.name} ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)}) ON CONFLICT (span_id) DO NOTHING"
)
# PostgreSQL: the same statement in psycopg's named style; psycopg 3 pipelines executemany.
_POSTGRES_INSERT = (
    f"INSERT INTO {_SPAN_TABLE.name} ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('%(' + name + ')s' for name in _COLUMNS)}) ON CONFLICT (span_id) DO NOTHING"
)


def _sqlite_datetime(value: Any) -> Any:
    """The text SQLAlchemy's SQLite DateTime stores: naive UTC with microseconds."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is dt.UTC:  # the common case: cut "+00:00" off instead of converting
            return value.isoformat(" ", "microseconds")[:26]
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    return value


def _sqlite_params(row: Mapping[str, Any]) -> tuple[Any, ...]:
    values: tuple[Any, ...] = _PLAIN_VALUES(row)
    return (*values, _sqlite_datetime(row["start_time"]), _sqlite_datetime(row["end_time"]))


def insert_span_rows(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with every ``span`` column) and skip span ids already stored."""
    if not rows:
        return
    dialect = connection.dialect.name
    if dialect == "sqlite":
        connection.exec_driver_sql(_SQLITE_INSERT, [_sqlite_params(row) for row in rows])
    elif dialect == "postgresql":
        # Rows already hold what psycopg adapts natively (aware datetimes, bools, str).
        connection.exec_driver_sql(_POSTGRES_INSERT, list(rows))
    else:
        raise StorageError(f"unsupported database dialect for span ingest: {dialect}")
