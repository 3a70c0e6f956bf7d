"""``create_app(settings)``: the FastAPI application factory of ``llmmon serve``.

Usage::

    from llmmon.config import Settings
    from llmmon.server.app import create_app

    app = create_app(Settings(database_url="sqlite:///llmmon.db"))

Everything the routes need lives on ``app.state``: ``settings``, ``engine``, ``key_cache``,
``metrics``, ``feedback_writer``, ``rate_limiter`` (and ``secret`` once loaded). The JSON API
(``llmmon.server.routes.api``) and the dashboard (``llmmon.server.routes.dashboard``) are
included when those modules are installed.
"""

from __future__ import annotations

import gc
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy import Engine, event
from starlette.concurrency import run_in_threadpool

from llmmon.config import Settings
from llmmon.server.errors import install_error_handlers
from llmmon.server.feedback_writer import FeedbackWriter
from llmmon.server.keys import KeyCache
from llmmon.server.middleware import BodySizeLimit, PathCORS, RequestTiming
from llmmon.server.ratelimit import RateLimiter
from llmmon.server.routes import feedback, ingest, metrics, session
from llmmon.server.telemetry import ServerMetrics
from llmmon.storage.engine import make_engine
from llmmon.storage.migrate import upgrade_database

__all__ = ["create_app"]

logger = logging.getLogger("llmmon")

_OPTIONAL_ROUTERS = (
    "llmmon.server.routes.api",
    "llmmon.server.routes.monitor_api",
    "llmmon.server.routes.dashboard",
    "llmmon.server.routes.monitor_pages",
)


def _optional_router(module_name: str) -> APIRouter | None:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:  # the module exists but one of its imports is missing: a real bug
            raise
        return None
    router: APIRouter = module.router
    return router


def _server_engine(settings: Settings) -> Engine:
    """An engine whose SQLite busy timeout is ``db_busy_timeout_s``: a locked database answers 503 soon."""
    engine = make_engine(settings.database_url)
    if engine.dialect.name == "sqlite":
        busy_ms = int(settings.db_busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _busy_timeout(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.close()

    return engine


def create_app(settings: Settings, *, engine: Engine | None = None, freeze_gc: bool = False) -> FastAPI:
    """Build the server app on ``settings``; an ``engine`` passed in is used as is and not disposed.

    ``freeze_gc`` (``llmmon serve`` sets it; it is process-wide, so a library user opts in):
    after start-up, move every object that exists then (modules, routes, models, the
    migration machinery) into the permanent GC generation. Without it each full collection
    walks that whole heap -- 60-150 ms pauses of the event loop every half second under
    feedback load, which were the p99 latency; with it, full collections only walk objects
    created while serving.
    """
    owns_engine = engine is None
    app_engine = _server_engine(settings) if engine is None else engine
    feedback_writer = FeedbackWriter(app_engine)
    server_metrics = ServerMetrics(app_engine, top_n=settings.metrics_top_n)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(upgrade_database, app_engine)
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await feedback_writer.close()
            if owns_engine:
                app_engine.dispose()

    app = FastAPI(
        title="llmmon",
        version="0.1.0",
        description="LLM quality and hallucination monitor: feedback, trace ingest, JSON API, metrics.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = app_engine
    app.state.secret = None
    app.state.key_cache = KeyCache(app_engine, ttl_s=settings.server_key_cache_s)
    app.state.metrics = server_metrics
    app.state.feedback_writer = feedback_writer
    app.state.rate_limiter = RateLimiter()
    install_error_handlers(app)
    for router in (feedback.router, ingest.router, metrics.router, session.router):
        app.include_router(router)
    for module_name in _OPTIONAL_ROUTERS:
        optional = _optional_router(module_name)
        if optional is not None:
            app.include_router(optional)
    # Added innermost first: the feedback fast path sits inside CORS, the body limit and timing,
    # so timing sees every response, including 413s and CORS preflights.
    app.add_middleware(feedback.FeedbackFastPath)
    if settings.server_cors_origins:
        app.add_middleware(PathCORS, paths=frozenset({"/v1/feedback"}), origins=list(settings.server_cors_origins))
    app.add_middleware(BodySizeLimit, max_bytes=settings.server_max_body_bytes)
    app.add_middleware(RequestTiming, observe=server_metrics.observe_request)
    return app
