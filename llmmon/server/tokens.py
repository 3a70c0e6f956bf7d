"""HMAC-signed, expiring tokens: feedback tokens for browsers, and dashboard session cookies.

Feedback token: ``<expiry unix seconds>.<base64url HMAC-SHA256(secret, "feedback|trace_id|expiry")>``.
The trace id is not inside the token: the browser sends it next to the token, and the
signature only matches that trace, so a token for another trace is rejected.

The secret is ``LLMMON_SECRET_KEY`` when set. Otherwise one is generated on first use and
stored in the ``server_secret`` table, so a chatbot using the same database as the server
(the default set-up) can mint tokens with no configuration. Processes that share no database
with the server (remote mode) must set the same ``LLMMON_SECRET_KEY`` on both sides.
No FastAPI imports: ``llmmon.feedback_token`` uses this module.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from llmmon.config import Settings
from llmmon.errors import LlmmonError
from llmmon.storage.models import ServerSecret

__all__ = [
    "TokenError",
    "load_secret",
    "make_feedback_token",
    "make_session_token",
    "verify_feedback_token",
    "verify_session_token",
]

_SECRET_NAME = "signing_key"


class TokenError(LlmmonError):
    """A token is malformed, forged, expired or for another trace."""


def load_secret(settings: Settings, engine: Engine | None) -> bytes:
    """The signing key: the configured one, else the one stored in (or generated into) the database."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value().encode("utf-8")
    if engine is None:
        raise TokenError("no LLMMON_SECRET_KEY set and no database to keep a generated one in")
    table = ServerSecret.__table__  # type: ignore[attr-defined]
    candidate = secrets.token_urlsafe(48)
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    with engine.begin() as connection:
        # Two processes generating at once: the first insert wins, both read the winner.
        connection.execute(
            insert(table).values(name=_SECRET_NAME, value=candidate).on_conflict_do_nothing(index_elements=["name"])
        )
        stored = connection.execute(select(table.c.value).where(table.c.name == _SECRET_NAME)).scalar_one()
    return str(stored).encode("utf-8")


def _sign(secret: bytes, message: str) -> str:
    digest = hmac.new(secret, message.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_feedback_token(secret: bytes, trace_id: str, *, ttl_s: float, now: float | None = None) -> str:
    """A token allowing feedback on ``trace_id`` until ``now + ttl_s``."""
    expiry = int((time.time() if now is None else now) + ttl_s)
    return f"{expiry}.{_sign(secret, f'feedback|{trace_id}|{expiry}')}"


def _split(token: str) -> tuple[int, str]:
    expiry_text, _, signature = token.partition(".")
    if not expiry_text.isdigit() or not signature or len(token) > 200:
        raise TokenError("malformed token")
    return int(expiry_text), signature


def verify_feedback_token(secret: bytes, token: str, trace_id: str, *, now: float | None = None) -> None:
    """Raise ``TokenError`` unless ``token`` was signed for ``trace_id`` and has not expired."""
    expiry, signature = _split(token)
    if not hmac.compare_digest(signature, _sign(secret, f"feedback|{trace_id}|{expiry}")):
        raise TokenError("invalid token (forged, or issued for another trace)")
    if expiry < (time.time() if now is None else now):
        raise TokenError("token expired")


def make_session_token(secret: bytes, key_id: str, *, ttl_s: float, now: float | None = None) -> str:
    """A dashboard session cookie value naming the API key that logged in."""
    expiry = int((time.time() if now is None else now) + ttl_s)
    return f"{expiry}.{key_id}.{_sign(secret, f'session|{key_id}|{expiry}')}"


def verify_session_token(secret: bytes, token: str, *, now: float | None = None) -> str:
    """The key id of a valid session cookie; ``TokenError`` otherwise."""
    expiry_text, _, rest = token.partition(".")
    key_id, _, signature = rest.partition(".")
    if not expiry_text.isdigit() or not key_id or not signature or len(token) > 200:
        raise TokenError("malformed session")
    expiry = int(expiry_text)
    if not hmac.compare_digest(signature, _sign(secret, f"session|{key_id}|{expiry}")):
        raise TokenError("invalid session")
    if expiry < (time.time() if now is None else now):
        raise TokenError("session expired")
    return key_id
