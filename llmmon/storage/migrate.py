"""Schema migrations through Alembic, run programmatically (no alembic.ini needed)."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from llmmon.errors import MigrationError

__all__ = ["current_revisions", "head_revisions", "upgrade_database"]

_MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Alembic installs its ``op``/``context`` proxies as module globals while it runs, so two
# upgrades in one process at once (the tracing writer thread and an in-process worker, say)
# would tear each other's proxies down mid-migration. One upgrade at a time per process.
_UPGRADE_LOCK = threading.Lock()


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    # ConfigParser treats % as interpolation; URLs may contain %-escaped passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revisions() -> set[str]:
    """The newest migrations shipped with this version of llmmon (one per branch)."""
    heads = set(ScriptDirectory.from_config(_alembic_config("sqlite://")).get_heads())
    if not heads:
        raise MigrationError("no migrations found in the package")
    return heads


def current_revisions(engine: Engine) -> set[str]:
    """The revisions the database is at (empty for an empty database)."""
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def upgrade_database(engine: Engine, revision: str = "heads") -> set[str]:
    """Bring the schema to ``revision`` (all heads by default); idempotent. Returns the revisions reached."""
    config = _alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with _UPGRADE_LOCK, engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except Exception as exc:  # alembic and drivers raise many types; one clear error out
        raise MigrationError(f"could not upgrade the database schema: {exc}") from exc
    return current_revisions(engine)
