"""Recorders: where finished spans go. The default one never blocks and never raises.

``QueueRecorder`` is the production recorder: ``record()`` appends the span to a bounded
``collections.deque`` (a length check, an append, and a wake-up only when a batch has
filled -- no lock), and ONE writer thread drains the queue in batches. The writer does
all the heavy work (``writer.SpanWriter``: serialise, truncate, redact, tokens, cost,
bulk insert, spool). ``InMemoryRecorder`` keeps spans in a list for tests.

The queue is bounded by span count (``queue_max_spans``) and by an estimated byte size
(``queue_max_bytes``). Spans beyond the bound are dropped, counted by reason in
``stats()``, and logged (rate-limited) on the ``llmmon`` logger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from llmmon.tracing.args import CallArgs
from llmmon.tracing.span import SpanRecord

if TYPE_CHECKING:
    from llmmon.config import Settings

__all__ = ["FlushResult", "InMemoryRecorder", "QueueRecorder", "Recorder", "estimate_span_bytes"]

logger = logging.getLogger("llmmon")

# Fixed per-span overhead in the byte estimate: the SpanRecord, its ids and small fields.
_SPAN_BASE_BYTES = 600
# How often a warning about dropped spans may be logged.
_DROP_WARNING_INTERVAL_S = 10.0


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
    size = _SPAN_BASE_BYTES
    if span.input is None and span.output is None:
        return size
    output = span.output
    if type(output) is str:
        size += len(output)
    elif type(output) is list:
        size += 64 * len(output)
    raw_input = span.input
    if type(raw_input) is CallArgs:
        for value in raw_input.args:
            if type(value) is str:
                size += len(value)
    elif type(raw_input) is dict:
        for value in raw_input.values():
            if type(value) is str:
                size += len(value)
            elif type(value) is list:
                size += 256 * len(value)
    return size


class _FlushMarker:
    """Put in the queue by ``flush``: the writer sets it after handling every span before it."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class QueueRecorder:
    """Bounded in-memory queue + one writer thread that stores spans in the database."""

    def __init__(
        self,
        settings: Settings,
        *,
        redactor: Callable[[str], str] | None = None,
    ) -> None:
        self._settings = settings
        self._redactor = redactor
        self._queue: deque[SpanRecord | _FlushMarker] = deque()
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
        self._writer: Any = None  # writer.SpanWriter, created inside the thread
        self._writer_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="llmmon-writer", daemon=True)
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
        size = estimate_span_bytes(span)
        if self._queued_bytes - self._drained_bytes + size > self._max_bytes:
            self._drop("queue_bytes", 1)
            return
        self._queued_bytes += size
        queue.append(span)
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
        writer = self._writer
        written = writer.written if writer is not None else 0
        spooled = writer.spool_pending if writer is not None else 0
        # len() rather than iterating: producers may append concurrently (flush markers count too).
        queued = len(self._queue)
        return FlushResult(written=written, pending=queued + spooled, dropped=self.dropped_total)

    def flush(self, timeout: float = 5.0) -> FlushResult:
        """Wait until every span recorded before this call is written or spooled.

        Counts are cumulative for the recorder's lifetime. Spans that went to the spool
        because the database is down count as pending until they are replayed.
        """
        if self._thread.is_alive():
            marker = _FlushMarker()
            self._queue.append(marker)
            self._wake.set()
            marker.done.wait(timeout)
        return self._result()

    def close(self, timeout: float = 5.0) -> FlushResult:
        """Flush, stop the writer thread, and drop later spans (counted as ``closed``)."""
        if not self._closed:
            self._closed = True
            self._stop = True
            self._wake.set()
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("llmmon: writer thread still busy after %.1fs; leaving it", timeout)
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
            "queue_len": result.pending - (writer.spool_pending if writer is not None else 0),
            "queue_bytes_estimate": self._queued_bytes - self._drained_bytes,
            "writer_alive": self._thread.is_alive(),
        }
        if writer is not None:
            stats.update(writer.stats())
        if self._writer_error is not None:
            stats["writer_error"] = self._writer_error
        return stats

    # -- writer thread -------------------------------------------------------------

    def _take_batch(self) -> tuple[list[SpanRecord], list[_FlushMarker]]:
        """Pop up to one batch; stop at a flush marker so it is released after the spans before it."""
        queue = self._queue
        batch: list[SpanRecord] = []
        markers: list[_FlushMarker] = []
        drained = 0
        while queue and len(batch) < self._batch_size:
            item = queue.popleft()
            if isinstance(item, _FlushMarker):
                markers.append(item)
                break
            batch.append(item)
            drained += estimate_span_bytes(item)
        self._drained_bytes += drained
        return batch, markers

    def _run(self) -> None:
        try:
            from llmmon.tracing.writer import SpanWriter

            self._writer = SpanWriter(self._settings, redactor=self._redactor, on_drop=self._drop)
        except Exception as exc:  # thread boundary: log, then count everything as dropped
            self._writer_error = f"{type(exc).__name__}: {exc}"
            logger.warning("llmmon: the span writer could not start; spans will be dropped", exc_info=True)
        writer = self._writer
        try:
            while True:
                if len(self._queue) < self._batch_size and not self._stop:
                    self._wake.wait(self._interval)
                    self._wake.clear()
                batch, markers = self._take_batch()
                try:
                    if writer is None:
                        if batch:
                            self._drop("writer_failed", len(batch))
                    elif batch:
                        writer.write_batch(batch)
                    elif markers or not self._queue:
                        writer.idle(flush=bool(markers))
                except Exception:  # thread boundary: the writer must survive any bug
                    logger.warning("llmmon: writing a batch failed", exc_info=True)
                    self._drop("writer_error", len(batch))
                for marker in markers:
                    marker.done.set()
                if self._stop and not self._queue:
                    break
        finally:
            for item in list(self._queue):
                if isinstance(item, _FlushMarker):
                    item.done.set()
            if writer is not None:
                try:
                    writer.close()
                except Exception:
                    logger.warning("llmmon: closing the span writer failed", exc_info=True)
