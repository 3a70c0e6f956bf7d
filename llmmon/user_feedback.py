"""User feedback from Python: ``llmmon.feedback(trace_id, "down")`` and ``llmmon.feedback_token(trace_id)``.

Usage::

    import llmmon

    llmmon.feedback(trace_id, "down", reason="wrong price", user_id="u42")   # written to the database now
    token = llmmon.feedback_token(trace_id)   # hand to the browser; it posts {trace_id, value, token}

``feedback`` writes straight to the configured database (same rules as ``POST /v1/feedback``:
one current vote per (trace, user), history kept, thumbs-down queued for evaluation).
``feedback_token`` signs with ``LLMMON_SECRET_KEY``, or with the key the server keeps in the
shared database when that is unset (see ``llmmon.server.tokens``).
(Not ``llmmon/feedback.py``: a submodule of that name would shadow the ``llmmon.feedback`` function.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

from llmmon.config import Settings
from llmmon.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["feedback", "feedback_token"]


@contextmanager
def _engine(settings: Settings, engine: Engine | None) -> Iterator[Engine]:
    if engine is not None:
        yield engine
        return
    from llmmon.storage.engine import make_engine
    from llmmon.storage.migrate import upgrade_database

    owned = make_engine(settings.database_url)
    try:
        upgrade_database(owned)
        yield owned
    finally:
        owned.dispose()


def feedback(
    trace_id: str,
    value: Literal["up", "down"] | None = None,
    *,
    score: float | None = None,
    comment: str | None = None,
    reason: str | None = None,
    user_id: str | None = None,
    settings: Settings | None = None,
    engine: Engine | None = None,
) -> None:
    """Record a vote on ``trace_id``: ``"up"``/``"down"`` or a ``score`` in [-1, 1]."""
    from llmmon.storage.feedback import FeedbackVote, record_votes, score_of

    if value not in (None, "up", "down"):
        raise ConfigError(f"feedback value must be 'up' or 'down', not {value!r}")
    if score is not None and not -1.0 <= score <= 1.0:
        raise ConfigError(f"feedback score must be in [-1, 1], not {score!r}")
    if not trace_id or len(trace_id) > 32:
        raise ConfigError("feedback needs a trace id of 1 to 32 characters")
    if value is None and score is None:
        raise ConfigError("feedback needs a value ('up' or 'down') or a score")
    vote = FeedbackVote(
        trace_id=trace_id,
        value=value,
        score=score_of(value, score),
        user_id=user_id,
        comment=comment,
        reason=reason,
        source="python",
    )
    with _engine(settings or Settings(), engine) as active:
        record_votes(active, [vote])


def feedback_token(
    trace_id: str, *, ttl: float | None = None, settings: Settings | None = None, engine: Engine | None = None
) -> str:
    """A signed token letting a browser vote on ``trace_id`` (only) for ``ttl`` seconds."""
    from llmmon.server.tokens import load_secret, make_feedback_token

    settings = settings or Settings()
    ttl_s = float(settings.feedback_token_ttl_s if ttl is None else ttl)
    if ttl_s <= 0:
        raise ConfigError("feedback token ttl must be positive")
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return make_feedback_token(load_secret(settings, None), trace_id, ttl_s=ttl_s)
    with _engine(settings, engine) as active:
        return make_feedback_token(load_secret(settings, active), trace_id, ttl_s=ttl_s)
