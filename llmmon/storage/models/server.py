"""Tables of the llmmon server: feedback (current vote + history), API keys, the server secret,
and the evaluation-priority queue that thumbs-down votes feed.

``feedback`` holds one row per (trace_id, user_key): a second vote replaces the first, while
``feedback_event`` keeps every vote ever received. Neither has a foreign key to ``span``:
feedback may arrive before its trace is written (the SDK writes asynchronously), and is
joined by ``trace_id`` when the trace lands.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = ["ApiKey", "EvalPriority", "Feedback", "FeedbackEvent", "ServerSecret"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Feedback(SQLModel, table=True):
    """The current vote of one user (or of anonymous users together) on one trace."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("trace_id", "user_key", name="uq_feedback_trace_user"),)

    id: int | None = Field(default=None, primary_key=True)
    trace_id: str = Field(max_length=32, index=True)
    user_key: str = Field(default="", max_length=256, description="user_id, or '' for anonymous votes")
    user_id: str | None = Field(default=None, max_length=256)
    value: str | None = Field(default=None, max_length=8, description="up | down (None for a bare score)")
    score: float = Field(description="-1 (down) .. 1 (up)")
    comment: str | None = Field(default=None, sa_column=Column(Text))
    reason: str | None = Field(default=None, max_length=256)
    source: str = Field(default="api", max_length=64, description="key:<id> | token | python | no-auth")
    created_at: datetime = Field(default_factory=_utc_now)
    updated_at: datetime = Field(default_factory=_utc_now, index=True)


class FeedbackEvent(SQLModel, table=True):
    """Every vote received, in order: the history behind ``feedback``."""

    __tablename__ = "feedback_event"
    __table_args__ = (Index("ix_feedback_event_trace_user", "trace_id", "user_key"),)

    id: int | None = Field(default=None, primary_key=True)
    trace_id: str = Field(max_length=32)
    user_key: str = Field(default="", max_length=256)
    user_id: str | None = Field(default=None, max_length=256)
    value: str | None = Field(default=None, max_length=8)
    score: float
    comment: str | None = Field(default=None, sa_column=Column(Text))
    reason: str | None = Field(default=None, max_length=256)
    source: str = Field(default="api", max_length=64)
    created_at: datetime = Field(default_factory=_utc_now, index=True)


class EvalPriority(SQLModel, table=True):
    """Traces the evaluation worker should check first (e.g. after a thumbs-down)."""

    __tablename__ = "eval_priority"

    trace_id: str = Field(primary_key=True, max_length=32)
    reason: str = Field(max_length=64, description="thumbs_down | ...")
    priority: int = Field(default=100, description="Higher first")
    created_at: datetime = Field(default_factory=_utc_now, index=True)
    claimed_at: datetime | None = Field(default=None, description="Set by the worker when it takes the trace")


class ApiKey(SQLModel, table=True):
    """An API key: only its SHA-256 is stored; the key itself is shown once at creation."""

    __tablename__ = "api_key"

    id: str = Field(primary_key=True, max_length=16, description="Public id, also the key's visible prefix")
    name: str = Field(default="", max_length=256)
    scope: str = Field(max_length=16, description="ingest | read | admin")
    key_hash: str = Field(max_length=64, unique=True, description="sha256 hex of the whole key")
    created_at: datetime = Field(default_factory=_utc_now)
    revoked_at: datetime | None = None


class ServerSecret(SQLModel, table=True):
    """Secrets the server generates for itself (the token-signing key when none is configured)."""

    __tablename__ = "server_secret"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=_utc_now)
