"""Trace ingest: ``POST /v1/traces`` (the recorder's row schema) and ``POST /v1/otlp/traces`` (OTLP/HTTP JSON).

Both need an ``ingest`` (or ``admin``) key, store a batch in one transaction through
``llmmon.storage.ingest.insert_span_rows`` and are idempotent by span id: a retried batch
stores nothing twice. Spans with a model and tokens but no cost are priced here.

Speed (``benchmarks/bench_ingest_http.py``): the native body is parsed and validated by
pydantic-core straight from the bytes (``SpanBatch.model_validate_json``: no ``json.loads``
into Python objects first, then a second validation pass), off the event loop, together with
the conversion to rows; the OpenAPI schema of the body is declared by hand for that reason.
Batches are written one at a time per app (``_IngestStore``): concurrent SQLite writers
would otherwise wait out each other's locks in the busy handler's sleeps.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from llmmon.server.auth import require_scope
from llmmon.server.errors import ApiError, DatabaseUnavailableError, format_validation_errors, is_database_unavailable
from llmmon.server.otlp import OtlpError, otlp_spans
from llmmon.server.spans_in import MAX_SPANS_PER_BATCH, SpanBatch, SpanIn, span_rows
from llmmon.server.telemetry import ServerMetrics
from llmmon.storage.ingest import insert_span_rows

__all__ = ["IngestAccepted", "router"]

logger = logging.getLogger("llmmon")

router = APIRouter(tags=["ingest"], dependencies=[Depends(require_scope("ingest"))])

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or revoked API key"},
    403: {"description": "The key lacks the ingest scope"},
    413: {"description": "Body too large"},
    422: {"description": "Invalid spans"},
    503: {"description": "Database unavailable: nothing stored, retry the batch"},
}


class IngestAccepted(BaseModel):
    """How many spans the batch held (all stored, or already stored before)."""

    ok: Literal[True] = True
    received: int


class _Pricer:
    """Prices spans the client sent without cost; the price table is loaded once, lazily."""

    def __init__(self) -> None:
        self._table: Any = None
        self._loaded = False

    def price(self, rows: list[dict[str, Any]], prices_file: Any) -> None:
        for row in rows:
            if row["cost_usd"] is not None or not row["model"]:
                continue
            if row["input_tokens"] is None and row["output_tokens"] is None:
                continue
            if not self._loaded:
                self._loaded = True
                try:
                    from llmmon.pricing import PriceTable

                    self._table = PriceTable.load(prices_file)
                except Exception as exc:  # spans are still stored, without cost
                    logger.warning("llmmon server: price table unavailable: %s", exc)
            if self._table is None:
                return
            row["cost_usd"] = self._table.cost_usd(
                row["model"],
                input_tokens=row["input_tokens"],
                output_tokens=row["output_tokens"],
                cached_tokens=row["cached_tokens"],
                at=row["start_time"],
            )


class _Pending:
    """One request's rows waiting for a commit; ``done`` is set only after the commit (or its failure)."""

    __slots__ = ("done", "error", "rows")

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.done = False
        self.error: BaseException | None = None


class _IngestStore:
    """Prices and writes span batches for one app: one transaction at a time, concurrent batches shared.

    Group commit in threads: every request queues its rows, then takes the write lock; whoever
    holds it writes *everything* queued in one transaction and marks those requests done
    (or failed). A request whose rows a predecessor already committed returns at once.
    """

    def __init__(self) -> None:
        self.pricer = _Pricer()
        self._write_lock = threading.Lock()  # also guards the pricer's lazy load
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self.transactions = 0

    def store(self, engine: Engine, prices_file: Any, rows: list[dict[str, Any]]) -> int:
        """Commit ``rows`` (possibly together with other requests'); raises the database error otherwise."""
        mine = _Pending(rows)
        with self._queue_lock:
            self._queue.append(mine)
        with self._write_lock:
            if not mine.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    combined = [row for pending in batch for row in pending.rows]
                    self.pricer.price(combined, prices_file)
                    with engine.begin() as connection:
                        insert_span_rows(connection, combined)
                    self.transactions += 1
                except BaseException as exc:
                    for pending in batch:
                        pending.error = exc
                    raise
                finally:
                    for pending in batch:
                        pending.done = True
        if mine.error is not None:
            raise mine.error
        return len(rows)

    def parse_and_store(self, engine: Engine, prices_file: Any, raw: bytes) -> int:
        """Validate a native batch from its JSON bytes, then store it (``ValidationError`` if invalid)."""
        batch = SpanBatch.model_validate_json(raw)
        return self.store(engine, prices_file, span_rows(batch.spans))


def _ingest_store(state: Any) -> _IngestStore:
    store: _IngestStore | None = getattr(state, "ingest_store", None)
    if store is None:
        store = state.ingest_store = _IngestStore()
    return store


async def _ingest(
    request: Request, endpoint: str, *, spans: list[SpanIn] | None = None, raw: bytes = b""
) -> IngestAccepted:
    state = request.app.state
    store = _ingest_store(state)
    try:
        if spans is not None:
            count = await run_in_threadpool(store.store, state.engine, state.settings.prices_file, span_rows(spans))
        else:
            count = await run_in_threadpool(store.parse_and_store, state.engine, state.settings.prices_file, raw)
    except ValidationError as exc:
        raise ApiError(422, format_validation_errors(exc.errors())) from None
    except Exception as exc:
        if is_database_unavailable(exc):
            raise DatabaseUnavailableError(type(exc).__name__) from exc
        raise
    metrics: ServerMetrics = state.metrics
    metrics.spans_ingested(endpoint, count)
    return IngestAccepted(received=count)


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` inlined (the OpenAPI document has no ``$defs`` root)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return inline(definitions[reference.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


@router.post(
    "/v1/traces",
    response_model=IngestAccepted,
    responses=_ERRORS,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": _inline_schema(SpanBatch)}}}
    },
)
async def post_traces(request: Request) -> IngestAccepted:
    """Store a batch of spans (the recorder's row schema, ``{"spans": [...]}``); idempotent by ``span_id``."""
    content_type = request.headers.get("content-type", "")
    if content_type and "json" not in content_type.split(";", 1)[0]:
        raise ApiError(422, "invalid request: body: send JSON (Content-Type: application/json)")
    return await _ingest(request, "native", raw=await request.body())


@router.post(
    "/v1/otlp/traces",
    response_model=IngestAccepted,
    responses={**_ERRORS, 415: {"description": "Not JSON (protobuf is not supported; use the JSON encoding)"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object", "properties": {"resourceSpans": {"type": "array"}}}}
            },
        }
    },
)
async def post_otlp_traces(request: Request) -> IngestAccepted:
    """Store spans from an OTLP/HTTP JSON export, mapping OpenTelemetry GenAI ``gen_ai.*`` attributes."""
    content_type = request.headers.get("content-type", "")
    if "json" not in content_type:
        raise ApiError(415, "only the OTLP/HTTP JSON encoding is supported (Content-Type: application/json)")
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        raise ApiError(422, f"invalid request: malformed JSON ({exc})") from None
    try:
        spans = otlp_spans(body)
    except OtlpError as exc:
        raise ApiError(422, f"invalid request: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise ApiError(422, f"invalid request: span {where}: {first.get('msg')}") from None
    if len(spans) > MAX_SPANS_PER_BATCH:
        raise ApiError(422, f"invalid request: more than {MAX_SPANS_PER_BATCH} spans in one export")
    return await _ingest(request, "otlp", spans=spans)
