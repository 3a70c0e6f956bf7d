"""Who may call what: API keys with scopes, dashboard session cookies, and ``--no-auth``.

Usage in a route module::

    from llmmon.server.auth import require_scope

    @router.get("/v1/traces", dependencies=[Depends(require_scope("read"))])

Credentials, checked in this order:

* an API key in ``Authorization: Bearer <key>`` or ``X-Llmmon-Key: <key>``;
* the ``llmmon_session`` cookie set by ``POST /login`` (a form taking a read or admin key):
  an HMAC-signed ``expiry.key_id.signature``; the key must still be active, so revoking
  the key also ends its sessions. Cookies are accepted for ``read`` and ``admin`` only,
  never for ingest or feedback, so a page on another site cannot write with a
  logged-in browser's cookie.

Scopes: ``admin`` grants everything; ``read`` grants the JSON API and dashboard; ``ingest``
grants ``POST /v1/traces`` and ``POST /v1/feedback``. With ``Settings.server_no_auth``
every request is allowed (``llmmon serve --no-auth`` binds to 127.0.0.1 for that reason).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from llmmon.server.errors import ApiError
from llmmon.server.keys import ApiKeyPublic, KeyCache, Scope, get_active_key
from llmmon.server.tokens import TokenError, load_secret, verify_session_token

__all__ = [
    "SESSION_COOKIE",
    "Principal",
    "credential_from",
    "credential_from_headers",
    "get_secret",
    "key_record",
    "require_scope",
    "resolve_key",
    "secret_of",
]

SESSION_COOKIE = "llmmon_session"

_GRANTS: dict[str, frozenset[str]] = {
    "ingest": frozenset({"ingest", "admin"}),
    "read": frozenset({"read", "admin"}),
    "admin": frozenset({"admin"}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: a key (or a session of a key), a feedback token, or nobody (no-auth)."""

    kind: Literal["key", "session", "token", "anonymous"]
    key_id: str | None = None
    scope: str | None = None

    @property
    def source(self) -> str:
        """Short provenance label stored with feedback."""
        return f"key:{self.key_id}" if self.key_id else self.kind


ANONYMOUS = Principal("anonymous")


def credential_from_headers(headers: Mapping[str, str]) -> str | None:
    """The API key in ``Authorization: Bearer <key>`` or ``X-Llmmon-Key``, if any."""
    header = headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-llmmon-key")
    return key.strip() if key and key.strip() else None


def credential_from(request: Request) -> str | None:
    """The API key sent with the request, if any."""
    return credential_from_headers(request.headers)


async def secret_of(state: Any) -> bytes:
    """The signing key of the app whose ``app.state`` is ``state``, loaded (or generated) on first use."""
    secret: bytes | None = getattr(state, "secret", None)
    if secret is None:
        secret = await run_in_threadpool(load_secret, state.settings, state.engine)
        state.secret = secret
    return secret


async def get_secret(request: Request) -> bytes:
    """The app's signing key, loaded (or generated into the database) on first use."""
    return await secret_of(request.app.state)


async def key_record(state: Any, key: str) -> ApiKeyPublic | None:
    """The active key record for ``key`` (cached; the database is asked off the event loop)."""
    cache: KeyCache = state.key_cache
    hit, record = cache.peek(key)
    if hit:
        return record
    return await run_in_threadpool(cache.lookup, key)


async def resolve_key(request: Request, key: str) -> ApiKeyPublic | None:
    """``key_record`` for the request's app."""
    return await key_record(request.app.state, key)


def _check_scope(record: ApiKeyPublic, scope: Scope, kind: Literal["key", "session"]) -> Principal:
    if record.scope not in _GRANTS[scope]:
        raise ApiError(403, f"API key {record.id} has scope {record.scope!r}; this needs {scope!r}")
    return Principal(kind, record.id, record.scope)


def require_scope(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits requests carrying a credential with ``scope`` (401/403 otherwise)."""
    if scope not in _GRANTS:
        raise ValueError(f"unknown scope {scope!r}")

    async def dependency(request: Request) -> Principal:
        if request.app.state.settings.server_no_auth:
            return ANONYMOUS
        key = credential_from(request)
        if key is not None:
            record = await resolve_key(request, key)
            if record is None:
                raise ApiError(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
            return _check_scope(record, scope, "key")
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and scope != "ingest":
            try:
                key_id = verify_session_token(await get_secret(request), cookie)
            except TokenError:
                raise ApiError(401, "session expired or invalid; log in again at /login") from None
            session_record = await run_in_threadpool(get_active_key, request.app.state.engine, key_id)
            if session_record is None:
                raise ApiError(401, "the API key of this session was revoked; log in again at /login")
            return _check_scope(session_record, scope, "session")
        raise ApiError(
            401,
            "missing API key: send 'Authorization: Bearer <key>' or 'X-Llmmon-Key: <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )

    dependency.__name__ = f"require_{scope}"
    return dependency
