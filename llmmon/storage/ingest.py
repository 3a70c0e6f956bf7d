"""Bulk, idempotent insert of span rows: the only SQL the tracing writer runs.

One ``executemany`` per batch through SQLAlchemy Core's ``exec_driver_sql``: a plain
``INSERT ... VALUES (...), (...), ... ON CONFLICT (span_id) DO NOTHING`` handed to the
driver's executemany (sqlite3; psycopg 3, which pipelines it), each parameter set carrying
a block of rows (up to 1,000 rows on SQLite, within its bind-parameter limit; 20 on
PostgreSQL, where psycopg is fastest with small blocks); the rows left over after the last
full block go in one shorter statement. ``prepare_span_rows`` builds those parameter
blocks ahead of time, in the recorder's serialising thread.

Why blocks of rows rather than one parameter set per row: sqlite3 releases the GIL around
every ``sqlite3_step``, and each step that ends while another Python thread is busy
(the recorder's serialising stage) waits up to a whole switch interval (5 ms) to get the
GIL back -- one row per step makes the insert ~10x slower next to a busy thread, one block
per step keeps the database work running alongside it. On PostgreSQL fewer, wider
statements also mean fewer protocol messages per row. Going through SQLAlchemy's
``insert()`` construct costs more per row in bind processing than the database spends
inserting it. Thanks to ``ON CONFLICT DO NOTHING``, replaying a spool that was partly
written already -- or a batch retried after a lost commit acknowledgement -- stores every
span exactly once (duplicates inside one statement included).

The hourly roll-ups (``llmmon.storage.rollups``) are updated in the same transaction with
exactly the rows this call stored: the span ids already present are looked up first (one
``IN`` query per 500 ids), and the insert's row count confirms the result; when it does not
match (a concurrent writer stored some of the same spans in between), the hours touched by
the batch's traces are recomputed from the span table instead.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import sqlite3
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Table

from llmmon.errors import StorageError
from llmmon.storage import rollups
from llmmon.storage.models.tracing import Span

__all__ = ["PreparedSpanRows", "insert_span_rows", "prepare_span_rows"]

_SPAN_TABLE: Table = Span.__table__  # type: ignore[attr-defined]
_DATETIME_COLUMNS = ("start_time", "end_time")
# Datetime columns last, so a row's values are one C-level itemgetter call plus two conversions.
_COLUMNS = [c.name for c in _SPAN_TABLE.columns if c.name not in _DATETIME_COLUMNS] + list(_DATETIME_COLUMNS)
_PLAIN_VALUES = operator.itemgetter(*_COLUMNS[: -len(_DATETIME_COLUMNS)])
_ALL_VALUES = operator.itemgetter(*_COLUMNS)
# SQLite rows per statement: long enough that a step's GIL-free work dwarfs the wait to
# get the GIL back, inside SQLite's default limit of 32,766 bind parameters.
_MAX_ROWS_PER_STATEMENT = 1000
# PostgreSQL rows per statement: measured with psycopg 3.3 (benchmarks/bench_writer_ingest.py),
# 10-40 rows per statement cost ~5 µs of client CPU per row against ~12 µs for one row per
# statement, while ~1,000 rows per statement cost ~60 µs (psycopg's per-statement work grows
# faster than linearly with the number of parameters).
_POSTGRES_ROWS_PER_STATEMENT = 20


@functools.lru_cache(maxsize=64)
def _insert_statement(dialect: str, rows: int) -> str:
    """``INSERT`` of ``rows`` rows with positional placeholders (``?`` for sqlite3, ``%s`` for psycopg)."""
    mark = "?" if dialect == "sqlite" else "%s"
    one_row = f"({', '.join(mark for _ in _COLUMNS)})"
    return (
        f"INSERT INTO {_SPAN_TABLE.name} ({', '.join(_COLUMNS)}) "
        f"VALUES {', '.join(one_row for _ in range(rows))} ON CONFLICT (span_id) DO NOTHING"
    )


# "YYYY-MM-DD HH:MM:SS" per second already formatted: an aware datetime's isoformat() costs
# ~0.7 us, twice per row, in the thread that limits the writer's throughput.
_SECOND_TEXT: dict[tuple[int, int, int, int, int, int], str] = {}
_SECOND_TEXT_MAX = 4096


def _sqlite_datetime(value: Any) -> Any:
    """The text SQLAlchemy's SQLite DateTime stores: naive UTC with microseconds."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is dt.UTC:  # the common case: no conversion
            second = (value.year, value.month, value.day, value.hour, value.minute, value.second)
            text = _SECOND_TEXT.get(second)
            if text is None:
                if len(_SECOND_TEXT) >= _SECOND_TEXT_MAX:
                    _SECOND_TEXT.clear()
                text = _SECOND_TEXT[second] = value.isoformat(" ", "seconds")[:19]
            return f"{text}.{value.microsecond:06d}"
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    return value


def _sqlite_params(row: Mapping[str, Any]) -> tuple[Any, ...]:
    values: tuple[Any, ...] = _PLAIN_VALUES(row)
    return (*values, _sqlite_datetime(row["start_time"]), _sqlite_datetime(row["end_time"]))


def _postgres_params(row: Mapping[str, Any]) -> tuple[Any, ...]:
    # Rows already hold what psycopg adapts natively (aware datetimes, bools, str).
    values: tuple[Any, ...] = _ALL_VALUES(row)
    return values


@functools.cache
def _sqlite_rows_per_statement() -> int:
    """Rows per statement within this SQLite library's bind-parameter limit (builds differ)."""
    probe = sqlite3.connect(":memory:")
    try:
        limit = probe.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    finally:
        probe.close()
    return max(1, min(_MAX_ROWS_PER_STATEMENT, limit // len(_COLUMNS)))


class PreparedSpanRows:
    """Span rows with the driver parameters already built, so the database thread only executes.

    Built by the recorder's serialising stage (``prepare_span_rows``), which runs in
    another thread than the inserts: the Python work of flattening rows into parameter
    blocks happens there, not while the database thread holds the GIL.
    """

    __slots__ = ("blocks", "dialect", "rest", "rollup_units", "rows")

    def __init__(
        self,
        rows: Sequence[Mapping[str, Any]],
        dialect: str,
        blocks: list[tuple[Any, ...]],
        rest: tuple[Any, ...] | None,
        rollup_units: dict[rollups.RollupKey, list[float]],
    ) -> None:
        self.rows = rows
        self.dialect = dialect
        self.blocks = blocks  # full blocks of _rows_per_statement(dialect) rows each
        self.rest = rest  # the remaining rows, flattened, or None
        # What the rows add to the hourly roll-ups when all of them are new (rollups.units_of).
        self.rollup_units = rollup_units


def _rows_per_statement(dialect: str) -> int:
    return _sqlite_rows_per_statement() if dialect == "sqlite" else _POSTGRES_ROWS_PER_STATEMENT


def prepare_span_rows(rows: Sequence[Mapping[str, Any]], *, dialect: str) -> PreparedSpanRows:
    """Flatten ``rows`` into the parameter blocks ``insert_span_rows`` sends for ``dialect``."""
    if dialect == "sqlite":
        params = _sqlite_params
    elif dialect == "postgresql":
        params = _postgres_params
    else:
        raise StorageError(f"unsupported database dialect for span ingest: {dialect}")
    per_statement = _rows_per_statement(dialect)
    full = len(rows) - len(rows) % per_statement
    blocks = [
        tuple(chain.from_iterable(map(params, rows[start : start + per_statement])))
        for start in range(0, full, per_statement)
    ]
    rest = tuple(chain.from_iterable(map(params, rows[full:]))) if full < len(rows) else None
    return PreparedSpanRows(rows, dialect, blocks, rest, rollups.units_of(rows))


def insert_span_rows(connection: Connection, rows: Sequence[Mapping[str, Any]] | PreparedSpanRows) -> int:
    """Insert ``rows`` (dicts with every ``span`` column), skip span ids already stored, and add
    the rows actually stored to the hourly roll-ups in the same transaction. Returns that count.
    """
    dialect = connection.dialect.name
    if not isinstance(rows, PreparedSpanRows) or rows.dialect != dialect:
        if not rows:
            return 0
        rows = prepare_span_rows(rows.rows if isinstance(rows, PreparedSpanRows) else rows, dialect=dialect)
    inserted = 0
    if rows.blocks:
        result = connection.exec_driver_sql(_insert_statement(dialect, _rows_per_statement(dialect)), rows.blocks)
        inserted += max(result.rowcount, 0)
    if rows.rest is not None:
        width = len(_COLUMNS)
        result = connection.exec_driver_sql(_insert_statement(dialect, len(rows.rest) // width), rows.rest)
        inserted += max(result.rowcount, 0)
    if inserted == len(rows.rows):
        rollups.add_inserted_spans(connection, rows.rows, rows.rollup_units)
    else:
        # Some span ids were stored already (a replayed spool segment, a retried HTTP batch):
        # which rows are new is unknown, so recompute the hours this batch touches instead.
        rollups.rebuild(connection, hours=rollups.batch_hours(rows.rows))
    return inserted


