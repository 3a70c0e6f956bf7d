"""``GET /metrics``: Prometheus text exposition of ``llmmon.server.telemetry.ServerMetrics``.

Needs a ``read`` key like the JSON API (Prometheus sends it with ``authorization.credentials``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from llmmon.server.auth import require_scope
from llmmon.server.telemetry import ServerMetrics

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    dependencies=[Depends(require_scope("read"))],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics (request latency, calls, tokens, cost, errors, verdicts, feedback)."""
    server_metrics: ServerMetrics = request.app.state.metrics
    body = await run_in_threadpool(generate_latest, server_metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
