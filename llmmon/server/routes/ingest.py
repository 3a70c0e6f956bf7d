"""Trace ingest: ``POST /v1/traces`` (the recorder's row schema) and ``POST /v1/otlp/traces`` (OTLP/HTTP JSON).

Both need an ``ingest`` (or ``admin``) key, store a batch in one transaction through
``llmmon.storage.ingest.insert_span_rows`` and are idempotent by span id: a retried batch
stores nothing twice. Spans with a model and tokens but no cost are priced here.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from llmmon.server.auth import require_scope
from llmmon.server.errors import ApiError, DatabaseUnavailableError, is_database_unavailable
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


def _store(engine: Engine, pricer: _Pricer, prices_file: Any, spans: list[SpanIn]) -> int:
    rows = span_rows(spans)
    pricer.price(rows, prices_file)
    with engine.begin() as connection:
        insert_span_rows(connection, rows)
    return len(rows)


async def _ingest(request: Request, spans: list[SpanIn], endpoint: str) -> IngestAccepted:
    state = request.app.state
    if not hasattr(state, "pricer"):
        state.pricer = _Pricer()
    try:
        count = await run_in_threadpool(_store, state.engine, state.pricer, state.settings.prices_file, spans)
    except Exception as exc:
        if is_database_unavailable(exc):
            raise DatabaseUnavailableError(type(exc).__name__) from exc
        raise
    metrics: ServerMetrics = state.metrics
    metrics.spans_ingested(endpoint, count)
    return IngestAccepted(received=count)


@router.post("/v1/traces", response_model=IngestAccepted, responses=_ERRORS)
async def post_traces(batch: SpanBatch, request: Request) -> IngestAccepted:
    """Store a batch of spans (the recorder's row schema); idempotent by ``span_id``."""
    return await _ingest(request, batch.spans, "native")


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
    return await _ingest(request, spans, "otlp")
