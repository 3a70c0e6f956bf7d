"""Recorders: where finished spans go. The default one never blocks and never raises.

``QueueRecorder`` is the production recorder: ``record()`` appends the span to a bounded
``collections.deque`` (a length check, an append, and a wake-up only when a batch has
filled -- no lock). Spans go in packed as msgpack bytes, or partly packed when they hold
values that must not be copied here (``packing.py``), so the garbage collector never walks a
long queue of span objects. Two background threads then work as a pipeline:

1. the drain thread ("llmmon-writer") takes batches from the queue and serialises them
   (``writer.serialise_batch``: JSON, truncate, redact, tokens, cost), then hands the
   finished rows to
2. the database thread ("llmmon-db") through a hand-off of at most ``_HANDOFF_BATCHES``
   batches. It alone owns the engine, the inserts, the spool, retries and replay
   (``writer.SpanWriter``): exactly one thread ever writes to the database.

So serialising batch N+1 (Python, holds the GIL) overlaps with inserting batch N (the
drivers release the GIL while the database works). Only the drain thread ever waits on
the hand-off; the caller's path is unchanged. A ``flush()`` marker travels through both
stages with the batch it follows, so it is released only once every span recorded
before it is written, spooled or counted as dropped. ``InMemoryRecorder`` keeps spans in
a list for tests.

The queue is bounded by span count (``queue_max_spans``) and by an estimated byte size
(``queue_max_bytes``). Between the stages there are at most a few batches more: one being
serialised, ``_HANDOFF_BATCHES`` waiting, and the ones being stored (the database thread
takes the batches already waiting into the same transaction, so fewer transactions cost
it fewer GIL hand-backs).
Spans beyond the bound are dropped, counted by reason in ``stats()``, and logged
(rate-limited) on the ``llmmon`` logger.
"""

from __future__ import annotations

import logging
import queue as queue_module
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from llmmon.tracing.args import CallArgs
from llmmon.tracing.packing import PARTLY_ARGS_AT, PartlyPacked, pack_span
from llmmon.tracing.span import SpanRecord

if TYPE_CHECKING:
    from llmmon.config import Settings

__all__ = ["FlushResult", "InMemoryRecorder", "QueueRecorder", "Recorder", "estimate_span_bytes"]

logger = logging.getLogger("llmmon")

# A span in the queue: packed, partly packed (packing.py), or the record itself.
QueueItem = SpanRecord | bytes | PartlyPacked
# Fixed per-span overhead in the byte estimate: the SpanRecord, its ids and small fields.
_SPAN_BASE_BYTES = 600
# The same for a span packed as bytes (the bytes object's header; its length counts the rest).
_PACKED_BASE_BYTES = 40
# How often a warning about dropped spans may be logged.
_DROP_WARNING_INTERVAL_S = 10.0
# Serialised batches that may wait for the database thread: enough to keep it busy while
# the next batch is serialised, few enough that memory stays bounded.
_HANDOFF_BATCHES = 2
# How often a drain thread blocked on a full hand-off checks that the database thread lives.
_HANDOFF_CHECK_S = 0.5


@dataclass(frozen=True, slots=True)
class FlushResult:
    """Counts after a flush: spans stored so far, spans not yet stored, spans lost so far."""

    written: int
    pending: int
    dropped: int


@runtime_checkable
class Recorder(Protocol):
    """Where finished spans go. ``record`` must never block and never raise."""

    def record(self, span: SpanRecord) -> None:
        """Accept one finished span."""

    def flush(self, timeout: float = 5.0) -> FlushResult:
        """Wait up to ``timeout`` seconds for accepted spans to be stored."""

    def close(self, timeout: float = 5.0) -> FlushResult:
        """Flush, then release resources; later ``record`` calls are dropped."""

    def stats(self) -> dict[str, Any]:
        """Counters for ``llmmon.stats()``."""


class InMemoryRecorder:
    """Keeps finished spans in ``self.spans`` (inputs already mapped to a name -> value dict)."""

    def __init__(self) -> None:
        self.spans: list[SpanRecord] = []
        self._lock = threading.Lock()

    def record(self, span: SpanRecord) -> None:
        """Store the span, turning raw call arguments into a dict as the writer would."""
        if isinstance(span.input, CallArgs):
            span.input = span.input.as_dict()
        with self._lock:
            self.spans.append(span)

    def flush(self, timeout: float = 5.0) -> FlushResult:
        """Nothing to wait for: spans are stored on ``record``."""
        return FlushResult(written=len(self.spans), pending=0, dropped=0)

    def close(self, timeout: float = 5.0) -> FlushResult:
        """Same as ``flush``."""
        return self.flush(timeout)

    def stats(self) -> dict[str, Any]:
        """Only the number of spans held."""
        return {"recorder": "memory", "written": len(self.spans), "pending": 0, "dropped": 0}

    def by_name(self, name: str) -> list[SpanRecord]:
        """The spans called ``name``, in the order they finished."""
        return [span for span in self.spans if span.name == name]

    def clear(self) -> None:
        """Forget all spans."""
        with self._lock:
            self.spans.clear()


def estimate_span_bytes(span: SpanRecord) -> int:
    """A cheap size estimate counting only top-level strings (no deep walk on the caller path)."""
    return _SPAN_BASE_BYTES + _payload_bytes(span.input, span.output)


def _payload_bytes(raw_input: Any, output: Any, first_arg: int = 0) -> int:
    size = 0
    if type(output) is str:
        size += len(output)
    elif type(output) is list:
        size += 64 * len(output)
    if type(raw_input) is CallArgs:
        raw_input = raw_input.args
    if type(raw_input) is tuple:
        for index in range(first_arg, len(raw_input)):
            value = raw_input[index]
            if type(value) is str:
                size += len(value)
            elif type(value) is dict:  # an integration's input, partly packed
                size += _payload_bytes(value, None)
    elif type(raw_input) is dict:
        for value in raw_input.values():
            if type(value) is str:
                size += len(value)
            elif type(value) is list:
                size += 256 * len(value)
    return size


def _item_bytes(item: QueueItem) -> int:
    """The byte-budget size of a queued span, the same when it is added and when it is taken."""
    if isinstance(item, bytes):
        return len(item) + _PACKED_BASE_BYTES
    if isinstance(item, tuple):  # partly packed: (fields, output, attributes, kwargs, *arguments)
        return len(item[0]) + _PACKED_BASE_BYTES + _payload_bytes(item, item[1], PARTLY_ARGS_AT)
    return estimate_span_bytes(item)


class _FlushMarker:
    """Put in the queue by ``flush``: the database thread sets it after every span before it is settled."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Work:
    """One serialised batch on its way from the drain thread to the database thread."""

    __slots__ = ("markers", "prepared", "rows", "spans")

    def __init__(
        self, rows: list[dict[str, Any]], spans: int, markers: list[_FlushMarker], prepared: Any = None
    ) -> None:
        self.rows = rows
        self.spans = spans  # spans taken from the queue for this batch and not dropped yet
        self.markers = markers
        self.prepared = prepared  # ingest.PreparedSpanRows for ``rows``, one per batch, or None

    def merge(self, other: _Work) -> _Work:
        """This batch and the next one as one unit: rows in order, flush markers released after both."""
        prepared = None
        if self.prepared is not None and other.prepared is not None:
            prepared = [*self.prepared, *other.prepared]
        elif not other.rows:
            prepared = self.prepared
        return _Work(self.rows + other.rows, self.spans + other.spans, self.markers + other.markers, prepared)


class QueueRecorder:
    """Bounded in-memory queue + a drain thread (serialise) + one database thread (store)."""

    def __init__(
        self,
        settings: Settings,
        *,
        redactor: Callable[[str], str] | None = None,
    ) -> None:
        self._settings = settings
        self._redactor = redactor
        self._queue: deque[QueueItem | _FlushMarker] = deque()
        self._max_spans = settings.queue_max_spans
        self._max_bytes = settings.queue_max_bytes
        self._batch_size = settings.batch_size
        self._interval = settings.flush_interval_s
        self._queued_bytes = 0  # producers add (GIL-atomic int update), the writer subtracts
        self._drained_bytes = 0
        self._wake = threading.Event()
        self._closed = False
        self._stop = False
        self._counts_lock = threading.Lock()  # only on the (rare) drop path and in the writer
        self._dropped: dict[str, int] = {}
        self._last_drop_warning = 0.0
        self._writer: Any = None  # writer.SpanWriter, created inside the database thread
        self._writer_error: str | None = None
        # Spans taken off the queue (drain thread only) and settled -- written, spooled or
        # dropped -- (database thread only): taken - settled are in flight between the two.
        self._taken = 0
        self._settled = 0
        # True while the database thread stores a batch: the drain thread then hands the GIL
        # back regularly (writer.serialise_batch).
        self._storing = False
        # Flush markers appended (flush callers, under _counts_lock) and taken (drain thread):
        # markers sit in the queue but are not spans, so pending leaves them out.
        self._markers_added = 0
        self._markers_taken = 0
        self._handoff: queue_module.Queue[_Work | None] = queue_module.Queue(maxsize=_HANDOFF_BATCHES)
        self._db_thread = threading.Thread(target=self._store_loop, name="llmmon-db", daemon=True)
        self._thread = threading.Thread(target=self._drain_loop, name="llmmon-writer", daemon=True)
        self._db_thread.start()
        self._thread.start()

    # -- caller path ---------------------------------------------------------------

    def record(self, span: SpanRecord) -> None:
        """Enqueue ``span``; drop and count it when the queue is full. Never blocks."""
        queue = self._queue
        if self._closed:
            self._drop("closed", 1)
            return
        if len(queue) >= self._max_spans:
            self._drop("queue_full", 1)
            return
        # Packed into bytes, or partly (see packing.py): the GC never walks the span's fields.
        item: QueueItem = pack_span(span) or span
        # _item_bytes's first case written out: the usual one, spared a call on this path.
        size = len(item) + _PACKED_BASE_BYTES if type(item) is bytes else _item_bytes(item)
        if self._queued_bytes - self._drained_bytes + size > self._max_bytes:
            self._drop("queue_bytes", 1)
            return
        self._queued_bytes += size
        queue.append(item)
        if len(queue) == self._batch_size:
            self._wake.set()

    def _drop(self, reason: str, count: int) -> None:
        with self._counts_lock:
            self._dropped[reason] = self._dropped.get(reason, 0) + count
            now = time.monotonic()
            warn = now - self._last_drop_warning >= _DROP_WARNING_INTERVAL_S
            if warn:
                self._last_drop_warning = now
        if warn:
            logger.warning(
                "llmmon: dropped %d span(s) (%s); total dropped so far: %d",
                count,
                reason,
                self.dropped_total,
            )

    # -- public counters -----------------------------------------------------------

    @property
    def dropped_total(self) -> int:
        """Spans lost for any reason since the recorder started."""
        return sum(self._dropped.values())

    def _result(self) -> FlushResult:
        # Read in pipeline order (queue, in flight, then the writer's counters): flush counts
        # its marker after appending it, the drain thread counts an item as taken before
        # popping it, and the database thread settles a span after counting it written or
        # spooled -- so an item moving meanwhile may be counted twice as pending, never
        # missed. len() rather than iterating: producers append concurrently.
        markers_added = self._markers_added
        queued = len(self._queue) - (markers_added - self._markers_taken)
        in_flight = self._taken - self._settled
        writer = self._writer
        written = writer.written if writer is not None else 0
        spooled = writer.spool_pending if writer is not None else 0
        return FlushResult(written=written, pending=queued + in_flight + spooled, dropped=self.dropped_total)

    def flush(self, timeout: float = 5.0) -> FlushResult:
        """Wait until every span recorded before this call is written or spooled.

        Counts are cumulative for the recorder's lifetime. Spans that went to the spool
        because the database is down count as pending until they are replayed; spans
        between the two stages count as pending too.
        """
        if self._thread.is_alive() and self._db_thread.is_alive():
            marker = _FlushMarker()
            self._queue.append(marker)
            with self._counts_lock:
                self._markers_added += 1
            self._wake.set()
            marker.done.wait(timeout)
        return self._result()

    def close(self, timeout: float = 5.0) -> FlushResult:
        """Flush, stop both threads, and drop later spans (counted as ``closed``)."""
        if not self._closed:
            self._closed = True
            self._stop = True
            self._wake.set()
            deadline = time.monotonic() + timeout
            self._thread.join(timeout)
            self._db_thread.join(max(0.0, deadline - time.monotonic()))
            if self._thread.is_alive() or self._db_thread.is_alive():
                logger.warning("llmmon: writer threads still busy after %.1fs; leaving them", timeout)
        return self._result()

    def stats(self) -> dict[str, Any]:
        """Counters: written, pending (queue + spool), dropped (total and by reason), and the writer state."""
        result = self._result()
        writer = self._writer
        stats: dict[str, Any] = {
            "recorder": "queue",
            "written": result.written,
            "pending": result.pending,
            "dropped": result.dropped,
            "dropped_by_reason": dict(self._dropped),
            "queue_len": len(self._queue) - (self._markers_added - self._markers_taken),
            "in_flight": self._taken - self._settled,
            "queue_bytes_estimate": self._queued_bytes - self._drained_bytes,
            "writer_alive": self._thread.is_alive() and self._db_thread.is_alive(),
        }
        if writer is not None:
            stats.update(writer.stats())
        if self._writer_error is not None:
            stats["writer_error"] = self._writer_error
        return stats

    # -- drain thread: queue -> rows -> hand-off -----------------------------------------

    def _take_batch(self) -> tuple[list[QueueItem], list[_FlushMarker]]:
        """Pop up to one batch; stop at a flush marker so it is released after the spans before it."""
        queue = self._queue
        batch: list[QueueItem] = []
        markers: list[_FlushMarker] = []
        drained = 0
        # Counters move before the pop, so that _result() never misses an item on its way.
        while queue and len(batch) < self._batch_size:
            head = queue[0]  # only this thread pops, so the head is what popleft() returns
            if isinstance(head, _FlushMarker):
                self._markers_taken += 1
                queue.popleft()
                markers.append(head)
                break
            self._taken += 1
            queue.popleft()
            batch.append(head)
            drained += _item_bytes(head)
        self._drained_bytes += drained
        return batch, markers

    def _hand_off(self, work: _Work | None) -> None:
        """Give ``work`` to the database thread, waiting while it is busy (the only wait in the pipeline)."""
        while True:
            try:
                self._handoff.put(work, timeout=_HANDOFF_CHECK_S)
                return
            except queue_module.Full:
                if not self._db_thread.is_alive():  # cannot happen short of a bug; do not hang
                    if work is not None:
                        self._drop("writer_failed", work.spans)
                        self._settled += work.spans
                        for marker in work.markers:
                            marker.done.set()
                    return

    def _drain_loop(self) -> None:
        serialiser: Any = None
        try:
            from llmmon.tracing.writer import build_serialiser

            serialiser = build_serialiser(self._settings, redactor=self._redactor)
        except Exception as exc:  # thread boundary: log, then count everything as dropped
            self._writer_error = f"{type(exc).__name__}: {exc}"
            logger.warning("llmmon: the span serialiser could not start; spans will be dropped", exc_info=True)
        try:
            while True:
                if len(self._queue) < self._batch_size and not self._stop:
                    self._wake.wait(self._interval)
                    self._wake.clear()
                batch, markers = self._take_batch()
                if batch or markers:
                    self._hand_off(self._serialise(serialiser, batch, markers))
                if self._stop and not self._queue:
                    break
        finally:
            # Flushes that raced with close() wait behind everything handed off so far.
            late = [item for item in list(self._queue) if isinstance(item, _FlushMarker)]
            if late:
                self._hand_off(_Work([], 0, late))
            self._hand_off(None)  # the database thread stops after storing what came before

    def _serialise(self, serialiser: Any, batch: list[QueueItem], markers: list[_FlushMarker]) -> _Work:
        if not batch:
            return _Work([], 0, markers)
        if serialiser is None:
            self._drop("writer_failed", len(batch))
            self._taken -= len(batch)
            return _Work([], 0, markers)
        from llmmon.tracing.writer import prepare_rows, serialise_batch

        prepared = None
        try:
            rows = serialise_batch(serialiser, batch, on_drop=self._drop, database_busy=self._is_storing)
            # Remote mode (an llmmon server endpoint) sends the rows themselves: no driver parameters.
            if not getattr(self._settings, "endpoint", None):
                ready = prepare_rows(rows, self._settings.database_url)
                prepared = [ready] if ready is not None else None
        except Exception:  # thread boundary: the drain thread must survive any bug
            logger.warning("llmmon: serialising a batch failed", exc_info=True)
            self._drop("writer_error", len(batch))
            rows = []
        # Spans dropped while serialising are counted as dropped now, no longer in flight.
        self._taken -= len(batch) - len(rows)
        return _Work(rows, len(rows), markers, prepared)

    # -- database thread: hand-off -> database or spool ----------------------------------

    def _store_loop(self) -> None:
        try:
            from llmmon.tracing.remote import writer_class  # remote mode (LLMMON_ENDPOINT) or the database

            self._writer = writer_class(self._settings)(self._settings, on_drop=self._drop)
        except Exception as exc:  # thread boundary: log, then count everything as dropped
            self._writer_error = f"{type(exc).__name__}: {exc}"
            logger.warning("llmmon: the span writer could not start; spans will be dropped", exc_info=True)
        writer = self._writer
        try:
            while True:
                try:
                    work = self._handoff.get(timeout=self._interval)
                except queue_module.Empty:
                    work = _Work([], 0, [])  # idle: replay the spool when a retry is due
                if work is None:
                    break
                # Whatever else is already serialised joins this transaction: each transaction
                # costs the thread a few GIL hand-backs, so fewer, larger ones keep it ahead.
                last = False
                for _ in range(_HANDOFF_BATCHES):
                    if not work.rows:
                        break
                    try:
                        more = self._handoff.get_nowait()
                    except queue_module.Empty:
                        break
                    if more is None:
                        last = True
                        break
                    work = work.merge(more)
                self._store(writer, work)
                if last:
                    break
        finally:
            while True:  # release anyone still waiting (only after a bug stopped the loop)
                try:
                    leftover = self._handoff.get_nowait()
                except queue_module.Empty:
                    break
                if leftover is not None:
                    for marker in leftover.markers:
                        marker.done.set()
            if writer is not None:
                try:
                    writer.close()
                except Exception:
                    logger.warning("llmmon: closing the span writer failed", exc_info=True)

    def _is_storing(self) -> bool:
        return self._storing

    def _store(self, writer: Any, work: _Work) -> None:
        self._storing = bool(work.rows)
        try:
            if writer is None:
                if work.rows:
                    self._drop("writer_failed", len(work.rows))
            elif work.rows:
                writer.store(work.rows, prepared=work.prepared)
            else:
                writer.idle()
        except Exception:  # thread boundary: the database thread must survive any bug
            logger.warning("llmmon: writing a batch failed", exc_info=True)
            self._drop("writer_error", len(work.rows))
        self._storing = False
        # Counted written / spooled / dropped above, so no longer in flight; then release flushes.
        self._settled += work.spans
        for marker in work.markers:
            marker.done.set()
