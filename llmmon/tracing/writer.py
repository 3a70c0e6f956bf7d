"""The recorder's two background stages: serialise spans into rows, and store the rows.

``SpanSerialiser`` work (``serialise_batch``, then ``prepare_rows``) runs in the
recorder's drain thread ("llmmon-writer"): map arguments, JSON, truncate, redact, tokens,
cost, and flattening the rows into the driver's parameters. ``SpanWriter``
runs in the recorder's database thread ("llmmon-db") and is used by no other thread, so
it needs no locks: it owns the engine, the idempotent ``executemany``
(``llmmon.storage.ingest``), the spool, the retries with backoff and the replay. Exactly
one thread ever writes to the database. The schema is created here, on the first write,
so that ``configure()`` is fast and never waits on a database.

When the database is unavailable (down, locked, unwritable, file deleted), the batch
goes to the spool and the writer retries with exponential backoff; while it waits,
new batches go straight to the spool so memory stays bounded. Once a retry succeeds,
the spool is replayed in order before newer rows are written.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import exc as sa_exc

from llmmon.config import Settings, normalise_database_url
from llmmon.errors import MigrationError
from llmmon.storage.engine import is_sqlite, make_engine, sqlite_path
from llmmon.storage.ingest import PreparedSpanRows, insert_span_rows, prepare_span_rows
from llmmon.storage.migrate import upgrade_database
from llmmon.tracing.packing import PartlyPacked
from llmmon.tracing.serialise import SpanSerialiser
from llmmon.tracing.span import SpanRecord
from llmmon.tracing.spool import Spool, spool_directory

__all__ = ["SpanWriter", "build_serialiser", "is_unavailable_error", "prepare_rows", "serialise_batch"]

logger = logging.getLogger("llmmon")

DropCallback = Callable[[str, int], None]


def is_unavailable_error(exc: BaseException) -> bool:
    """Errors that mean "the database cannot take writes right now" rather than "bad row"."""
    return isinstance(
        exc,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.DisconnectionError
        | sa_exc.TimeoutError
        | sa_exc.ProgrammingError  # e.g. the table was dropped: re-run the migrations
        | MigrationError
        | OSError,
    )


def _load_prices(settings: Settings) -> Any:
    try:
        from llmmon.pricing import PriceTable

        return PriceTable.load(settings.prices_file)
    except Exception as exc:  # no prices: spans are stored without cost, not lost
        logger.warning("llmmon: price table unavailable, costs will be empty: %s", exc)
        return None


def build_serialiser(settings: Settings, *, redactor: Callable[[str], str] | None = None) -> SpanSerialiser:
    """The serialiser the drain thread uses: the default redactor unless one is given or PII redaction is off."""
    if redactor is None and settings.redact_pii:
        from llmmon.tracing.redact import Redactor

        redactor = Redactor()
    return SpanSerialiser(
        max_payload_bytes=settings.max_payload_bytes,
        redactor=redactor,
        prices=_load_prices(settings),
        tiktoken_encoding=settings.tiktoken_encoding,
    )


# Spans serialised between two checks of ``database_busy`` (about half a millisecond).
_YIELD_EVERY = 32


def serialise_batch(
    serialiser: SpanSerialiser,
    spans: list[SpanRecord | bytes | PartlyPacked],
    *,
    on_drop: DropCallback,
    database_busy: Callable[[], bool] | None = None,
) -> list[dict[str, Any]]:
    """Rows for ``spans`` (records, packed or partly packed); a span that cannot be serialised is
    dropped and counted, not the batch.

    While ``database_busy()`` says the database thread is storing, the GIL is handed back
    every ``_YIELD_EVERY`` spans: each time a statement returns from the driver, that thread
    needs the GIL again, and without a hand-back it waits a whole switch interval (5 ms)
    for this thread to be forced off -- 40 % of its time in a measured run. Only then: against
    a CPU-bound application thread every hand-back would cost this thread a switch interval.
    """
    rows: list[dict[str, Any]] = []
    to_row = serialiser.to_row
    for index, span in enumerate(spans):
        if database_busy is not None and index % _YIELD_EVERY == _YIELD_EVERY - 1 and database_busy():
            time.sleep(0)
        try:
            rows.append(to_row(span))
        except Exception:  # one bad span must not cost the batch
            name = span.name if isinstance(span, SpanRecord) else "<packed span>"
            logger.warning("llmmon: could not serialise span %r; dropped", name, exc_info=True)
            on_drop("serialise_error", 1)
    return rows


def prepare_rows(rows: list[dict[str, Any]], database_url: str) -> PreparedSpanRows | None:
    """Driver parameters for ``rows``, built in the serialising thread (None: let the writer build them)."""
    if not rows:
        return None
    dialect = "sqlite" if is_sqlite(normalise_database_url(database_url)) else "postgresql"
    try:
        return prepare_span_rows(rows, dialect=dialect)
    except Exception:  # a value the fast path cannot take; the writer's own path reports it
        return None


class SpanWriter:
    """Stores batches of rows; owns the engine, the spool, retries and replay (database thread only)."""

    def __init__(self, settings: Settings, *, on_drop: DropCallback) -> None:
        self._settings = settings
        self._url = settings.database_url
        self._on_drop = on_drop
        self._spool = Spool(
            spool_directory(settings.spool_dir, self._url), max_bytes=settings.spool_max_bytes
        )
        self._batch_size = settings.batch_size
        self._engine: Engine | None = None
        self._schema_ready = False
        self._sqlite_file = sqlite_path(self._url)
        self._sqlite_inode: int | None = None
        self._backoff = settings.retry_initial_backoff_s
        self._next_attempt = 0.0
        self._unavailable_since: float | None = None
        self.written = 0
        self.spooled = 0
        self.replayed = 0
        self.last_error: str | None = None

    # -- counters -------------------------------------------------------------------

    @property
    def spool_pending(self) -> int:
        """Rows waiting in the spool for the database to come back."""
        return self._spool.pending_rows

    def stats(self) -> dict[str, Any]:
        """Writer counters for ``llmmon.stats()``."""
        return {
            "database_available": self._unavailable_since is None,
            "spooled": self.spooled,
            "replayed": self.replayed,
            "spool_pending": self._spool.pending_rows,
            "spool_bytes": self._spool.size_bytes,
            "spool_dir": str(self._spool.directory),
            "last_error": self.last_error,
        }

    # -- work -----------------------------------------------------------------------

    def store(self, rows: list[dict[str, Any]], *, prepared: Sequence[PreparedSpanRows] | None = None) -> None:
        """Store rows in one transaction (or spool them while the database is unavailable).

        ``prepared`` holds the same rows, in order, already flattened into driver parameters
        by the serialising thread (one entry per serialised batch); it is used for the first
        attempt, ``rows`` for everything else (retries, the spool, row-by-row isolation).
        """
        self._store(rows, prepared)

    def idle(self) -> None:
        """Nothing queued: replay the spool when a retry is due (startup, DB back, flush)."""
        if self._spool.pending_rows and time.monotonic() >= self._next_attempt:
            self._store([], None)

    def close(self) -> None:
        """Release the engine and close the spool segment (kept for the next run)."""
        self._spool.close()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- storage --------------------------------------------------------------------

    def _store(self, rows: list[dict[str, Any]], prepared: Sequence[PreparedSpanRows] | None) -> None:
        if time.monotonic() < self._next_attempt:
            self._spill(rows)
            return
        try:
            self._ensure_schema()
            if self._spool.pending_rows:
                self.replayed += self._spool.replay(self._insert, batch_size=self._batch_size)
            if rows:
                self._insert(rows, prepared)
        except Exception as exc:
            if not is_unavailable_error(exc):
                raise
            self._on_unavailable(exc)
            self._spill(rows)
            return
        self._on_available()

    def _insert(self, rows: list[dict[str, Any]], prepared: Sequence[PreparedSpanRows] | None = None) -> None:
        engine = self._engine
        assert engine is not None
        try:
            with engine.begin() as connection:
                if prepared is None:
                    insert_span_rows(connection, rows)
                for block in prepared or ():
                    insert_span_rows(connection, block)
        except sa_exc.DBAPIError as exc:
            if is_unavailable_error(exc) or len(rows) == 1:
                if not is_unavailable_error(exc):
                    logger.warning("llmmon: the database rejected span %s: %s", rows[0].get("span_id"), exc)
                    self._on_drop("rejected", 1)
                    return
                raise
            # A data error in some row: store the others one by one and drop the culprits.
            for row in rows:
                self._insert([row])
            return
        self.written += len(rows)

    def _ensure_schema(self) -> None:
        if self._schema_ready and self._sqlite_file is not None and self._sqlite_inode != self._file_inode():
            # The database file was deleted or replaced under us: pooled connections would
            # keep writing into the unlinked file, so start over on a fresh one.
            logger.warning("llmmon: database file %s deleted or replaced; recreating it", self._sqlite_file)
            self._reset_engine()
        if self._schema_ready:
            return
        if self._engine is None:
            self._engine = self._make_engine()
        upgrade_database(self._engine)
        self._schema_ready = True
        if self._sqlite_file is not None:
            self._sqlite_inode = self._file_inode()

    def _file_inode(self) -> int | None:
        assert self._sqlite_file is not None
        try:
            return os.stat(self._sqlite_file).st_ino
        except OSError:
            return None

    def _make_engine(self) -> Engine:
        engine = make_engine(self._url)
        if self._sqlite_file is not None:
            busy_ms = int(self._settings.db_busy_timeout_s * 1000)

            # Registered after make_engine's own pragmas, so this busy timeout wins: a
            # locked database sends the batch to the spool instead of stalling the writer.
            @event.listens_for(engine, "connect")
            def _busy_timeout(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
                cursor.close()

        return engine

    def _reset_engine(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None
        self._schema_ready = False

    def _on_unavailable(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"[:500]
        now = time.monotonic()
        if self._unavailable_since is None:
            self._unavailable_since = now
            logger.warning(
                "llmmon: database unavailable, spooling spans to %s and retrying: %s",
                self._spool.directory,
                self.last_error,
            )
        else:
            self._backoff = min(self._backoff * 2, self._settings.retry_max_backoff_s)
        self._next_attempt = now + self._backoff
        # Connections may be broken or the file gone; rebuild both on the next attempt.
        self._reset_engine()

    def _on_available(self) -> None:
        if self._unavailable_since is not None:
            logger.warning(
                "llmmon: database available again after %.1fs; spooled spans replayed",
                time.monotonic() - self._unavailable_since,
            )
        self._unavailable_since = None
        self._backoff = self._settings.retry_initial_backoff_s
        self._next_attempt = 0.0

    def _spill(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            accepted = self._spool.append(rows)
        except OSError as exc:
            logger.warning("llmmon: cannot write the spool in %s: %s", self._spool.directory, exc)
            accepted = 0
        self.spooled += accepted
        if accepted < len(rows):
            self._on_drop("spool_full", len(rows) - accepted)
