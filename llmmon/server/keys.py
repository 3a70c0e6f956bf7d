"""API keys: create (shown once), look up, list, revoke. Only a SHA-256 of each key is stored.

A key looks like ``llmk_<id>_<secret>``: ``id`` (8 hex chars) is public and names the key in
listings and logs; ``secret`` is 32 random bytes (256 bits) from ``secrets``.

Why SHA-256 and not bcrypt/argon2: those are slow on purpose to protect low-entropy
*passwords* against offline guessing. A 256-bit random key cannot be guessed however fast
the hash is, so a fast hash is as safe here, and it lets the server check a key on every
request (feedback at thousands of requests per second) without burning CPU.
No FastAPI imports: the CLI uses this module too.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Literal, get_args

from pydantic import BaseModel
from sqlalchemy import Engine, select, update
from sqlmodel import Session

from llmmon.errors import ConfigError
from llmmon.storage.models import ApiKey

__all__ = [
    "SCOPES",
    "ApiKeyPublic",
    "KeyCache",
    "Scope",
    "create_key",
    "get_active_key",
    "hash_key",
    "list_keys",
    "lookup_key",
    "revoke_key",
]

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
_PREFIX = "llmk"


class ApiKeyPublic(BaseModel):
    """What may be shown about a key after creation (never the key itself)."""

    id: str
    name: str
    scope: str
    created_at: datetime
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _public(row: ApiKey) -> ApiKeyPublic:
    return ApiKeyPublic(id=row.id, name=row.name, scope=row.scope, created_at=row.created_at, revoked_at=row.revoked_at)


def create_key(engine: Engine, *, scope: str, name: str = "") -> tuple[ApiKeyPublic, str]:
    """Create a key with ``scope``; returns its public record and the key (show it once)."""
    if scope not in SCOPES:
        raise ConfigError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)}")
    key_id = secrets.token_hex(4)
    key = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKey(id=key_id, name=name, scope=scope, key_hash=hash_key(key))
    with Session(engine) as session:
        session.add(row)
        session.commit()
        session.refresh(row)
        return _public(row), key


def list_keys(engine: Engine, *, include_revoked: bool = True) -> list[ApiKeyPublic]:
    """All keys, oldest first."""
    statement = select(ApiKey).order_by(ApiKey.created_at)  # type: ignore[arg-type]
    if not include_revoked:
        statement = statement.where(ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
    with Session(engine) as session:
        return [_public(row) for row in session.scalars(statement)]


def revoke_key(engine: Engine, key_id: str) -> bool:
    """Revoke a key by id; False when no active key has that id."""
    with engine.begin() as connection:
        result = connection.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))  # type: ignore[arg-type,union-attr]
            .values(revoked_at=datetime.now(UTC))
        )
        return bool(result.rowcount)


def lookup_key(engine: Engine, key: str) -> ApiKeyPublic | None:
    """The active key matching ``key``, or None (unknown, malformed or revoked)."""
    if not key.startswith(_PREFIX + "_") or len(key) > 200:
        return None
    with Session(engine) as session:
        row = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key))).first()  # type: ignore[arg-type]
        if row is None or row.revoked_at is not None:
            return None
        return _public(row)


def get_active_key(engine: Engine, key_id: str) -> ApiKeyPublic | None:
    """The key with this id unless revoked (for session cookies, which name the key by id)."""
    with Session(engine) as session:
        row = session.get(ApiKey, key_id)
        return None if row is None or row.revoked_at is not None else _public(row)


class KeyCache:
    """Remembers lookups for ``ttl_s`` seconds, so a hot key costs one hash, not one query.

    A revoked key therefore keeps working for at most ``ttl_s`` (``LLMMON_SERVER_KEY_CACHE_S``).
    """

    def __init__(self, engine: Engine, *, ttl_s: float) -> None:
        self._engine = engine
        self._ttl = ttl_s
        self._entries: dict[str, tuple[float, ApiKeyPublic | None]] = {}
        self._lock = threading.Lock()

    def peek(self, key: str) -> tuple[bool, ApiKeyPublic | None]:
        """(True, record) when a fresh cached answer exists; no database access."""
        if self._ttl <= 0:
            return False, None
        entry = self._entries.get(hash_key(key))
        if entry is not None and entry[0] > time.monotonic():
            return True, entry[1]
        return False, None

    def lookup(self, key: str) -> ApiKeyPublic | None:
        """``lookup_key`` with caching (misses are cached too, bounded)."""
        if self._ttl <= 0:
            return lookup_key(self._engine, key)
        now = time.monotonic()
        digest = hash_key(key)
        entry = self._entries.get(digest)
        if entry is not None and entry[0] > now:
            return entry[1]
        found = lookup_key(self._engine, key)
        with self._lock:
            if len(self._entries) > 10_000:  # unknown keys must not grow memory without bound
                self._entries.clear()
            self._entries[digest] = (now + self._ttl, found)
        return found
