"""``POST /v1/feedback``: thumbs up/down or a score on a trace, from a backend (API key) or a browser (token).

* Idempotent per (trace_id, user_id): a second vote replaces the first; every vote is kept in
  the history (``feedback_event``).
* Feedback for a trace that is not stored yet is accepted (200) and joined by ``trace_id``
  when the trace lands: the SDK writes asynchronously, and ground truth often arrives late.
* A thumbs-down (or negative score) puts the trace into ``eval_priority`` for the evaluation worker.
* Answered only after the vote is committed (group commit, ``FeedbackWriter``); when the
  database is unavailable the answer is 503 and nothing is acknowledged.
* Credentials: an ``ingest``/``admin`` API key, or a ``token`` from ``llmmon.feedback_token(trace_id)``
  in the body (403 if forged, expired or for another trace). Rate-limited per key and per token.

Speed: ``FeedbackFastPath`` (pure ASGI, installed by ``create_app`` inside the CORS, body-size
and timing middleware) answers ``POST /v1/feedback`` itself -- JSON parsed and validated by
pydantic-core in one call, no routing, dependency solving or response-model pass -- because
FastAPI's request machinery cost more per vote than the vote itself. It runs exactly the same
``accept_vote`` as the documented FastAPI route below, which stays the OpenAPI contract and
answers when the app is used without the fast path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from llmmon.server.auth import ANONYMOUS, Principal, credential_from_headers, key_record, secret_of
from llmmon.server.errors import (
    ApiError,
    DatabaseUnavailableError,
    error_body,
    format_validation_errors,
    is_database_unavailable,
)
from llmmon.server.feedback_writer import FeedbackWriter
from llmmon.server.ratelimit import RateLimiter
from llmmon.server.telemetry import ServerMetrics
from llmmon.server.tokens import TokenError, verify_feedback_token
from llmmon.storage.feedback import FeedbackVote

__all__ = ["FEEDBACK_PATH", "FeedbackAccepted", "FeedbackCreate", "FeedbackFastPath", "accept_vote", "router"]

router = APIRouter(tags=["feedback"])

FEEDBACK_PATH = "/v1/feedback"

TraceId = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")]

_ERRORS: dict[int | str, dict[str, str]] = {
    401: {"description": "Missing or revoked API key (and no token)"},
    403: {"description": "Forged or expired token, a token for another trace, or a key without the scope"},
    413: {"description": "Body too large"},
    422: {"description": "Invalid body"},
    429: {"description": "Rate limit of the key or token exceeded"},
    503: {"description": "Database unavailable: nothing recorded, retry"},
}


class FeedbackCreate(BaseModel):
    """A vote: ``value`` ("up"/"down") or ``score`` in [-1, 1] (or both; the score wins)."""

    model_config = ConfigDict(extra="forbid")

    trace_id: TraceId
    value: Literal["up", "down"] | None = None
    score: float | None = Field(default=None, ge=-1.0, le=1.0, allow_inf_nan=False)
    comment: str | None = Field(default=None, max_length=10_000)
    reason: str | None = Field(default=None, max_length=256)
    user_id: str | None = Field(default=None, max_length=256)
    token: str | None = Field(default=None, max_length=200, description="From llmmon.feedback_token(trace_id)")

    @model_validator(mode="after")
    def _value_or_score(self) -> FeedbackCreate:
        if self.value is None and self.score is None:
            raise ValueError("give a value ('up' or 'down') or a score in [-1, 1]")
        return self


class FeedbackAccepted(BaseModel):
    """The stored vote."""

    ok: Literal[True] = True
    trace_id: str
    user_id: str | None
    value: str | None
    score: float


async def _authorise(state: Any, headers: Mapping[str, str], body: FeedbackCreate) -> tuple[Principal, str | None]:
    """Who votes, and the rate-limit bucket to charge (None: unlimited)."""
    settings = state.settings
    if body.token is not None:
        try:
            verify_feedback_token(await secret_of(state), body.token, body.trace_id)
        except TokenError as exc:
            raise ApiError(403, f"feedback token rejected: {exc}") from None
        bucket = f"token:{body.token}" if settings.feedback_rate_per_token else None
        return Principal("token"), bucket
    key = credential_from_headers(headers)
    if key is not None:
        record = await key_record(state, key)
        if record is None:
            raise ApiError(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        if record.scope not in ("ingest", "admin"):
            raise ApiError(403, f"API key {record.id} has scope {record.scope!r}; feedback needs 'ingest'")
        bucket = f"key:{record.id}" if settings.feedback_rate_per_key else None
        return Principal("key", record.id, record.scope), bucket
    if settings.server_no_auth:
        return ANONYMOUS, None
    raise ApiError(
        401, "send an API key (Authorization: Bearer <key>) or a feedback token", headers={"WWW-Authenticate": "Bearer"}
    )


async def accept_vote(state: Any, headers: Mapping[str, str], body: FeedbackCreate) -> FeedbackAccepted:
    """Authorise, rate-limit and store one vote; returns once it is committed (``ApiError`` otherwise)."""
    principal, bucket = await _authorise(state, headers, body)
    if bucket is not None:
        limiter: RateLimiter = state.rate_limiter
        per_minute = (
            state.settings.feedback_rate_per_token
            if principal.kind == "token"
            else state.settings.feedback_rate_per_key
        )
        if not limiter.allow(bucket, per_minute):
            raise ApiError(429, f"rate limit exceeded ({per_minute} votes a minute)", headers={"Retry-After": "5"})
    score = body.score if body.score is not None else (1.0 if body.value == "up" else -1.0)
    assert math.isfinite(score)
    vote = FeedbackVote(
        trace_id=body.trace_id,
        value=body.value,
        score=score,
        user_id=body.user_id,
        comment=body.comment,
        reason=body.reason,
        source=principal.source,
    )
    writer: FeedbackWriter = state.feedback_writer
    try:
        await writer.submit(vote)
    except Exception as exc:
        if is_database_unavailable(exc):
            raise DatabaseUnavailableError(type(exc).__name__) from exc
        raise
    metrics: ServerMetrics = state.metrics
    metrics.feedback_received(body.value or ("up" if score > 0 else "down" if score < 0 else "neutral"))
    return FeedbackAccepted(trace_id=vote.trace_id, user_id=vote.user_id, value=vote.value, score=score)


@router.post(FEEDBACK_PATH, response_model=FeedbackAccepted, responses=_ERRORS)
async def post_feedback(body: FeedbackCreate, request: Request) -> FeedbackAccepted:
    """Record a vote on a trace (replacing the same user's earlier vote); 200 once it is durable."""
    return await accept_vote(request.app.state, request.headers, body)


class _RouteLabel:
    """Stands in for the matched route in ``scope["route"]`` so request timing labels the template."""

    path = FEEDBACK_PATH


_ROUTE_LABEL = _RouteLabel()
_JSON_HEADERS = [(b"content-type", b"application/json")]


def _route_path(scope: Scope) -> str:
    """The path below the app's mount point (as Starlette's router sees it)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path) and path[len(root_path) : len(root_path) + 1] == "/":
        return path[len(root_path) :]
    return path


class FeedbackFastPath:
    """Answers ``POST /v1/feedback`` in pure ASGI (same ``accept_vote``); everything else passes through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _route_path(scope) != FEEDBACK_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = _ROUTE_LABEL
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        headers = Headers(scope=scope)
        status, payload, extra = await self._answer(scope, headers, b"".join(chunks))
        body = json.dumps(payload, separators=(",", ":")).encode()
        response_headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
        response_headers += [(name.lower().encode(), value.encode()) for name, value in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, headers: Headers, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        content_type = headers.get("content-type", "")
        if content_type and "json" not in content_type.split(";", 1)[0]:
            return 422, error_body(422, "invalid request: body: send JSON (Content-Type: application/json)"), {}
        try:
            body = FeedbackCreate.model_validate_json(raw)
        except ValidationError as exc:
            return 422, error_body(422, format_validation_errors(exc.errors())), {}
        try:
            accepted = await accept_vote(scope["app"].state, headers, body)
        except ApiError as exc:
            return exc.status, error_body(exc.status, exc.message), exc.headers or {}
        return 200, accepted.model_dump(), {}
