"""What every `llmmon` command shares: settings from options, engines, output, error handling.

Commands stay thin: parse options, open an engine with ``open_engine``, call a library function,
print with ``print_json`` or a rich table. ``handle_errors`` turns ``LlmmonError`` into a one-line
message and an exit code (2 for bad input, 1 otherwise) instead of a traceback.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from sqlalchemy import Engine

from llmmon.config import Settings
from llmmon.errors import ConfigError, EvalSuiteError, LlmmonError, PromptError, StorageError

__all__ = [
    "DB_OPTION",
    "JSON_OPTION",
    "console",
    "err_console",
    "handle_errors",
    "make_settings",
    "open_engine",
    "parse_duration",
    "parse_since",
    "print_json",
]

P = ParamSpec("P")
R = TypeVar("R")

DB_OPTION = typer.Option(
    None, "--db", help="Database URL or SQLite file path (default: LLMMON_DATABASE_URL, else ./llmmon.db)."
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table (for scripts).")

# Bad input exits 2 (like a usage error); a failure of the store or the run exits 1.
_BAD_INPUT = (ConfigError, PromptError, EvalSuiteError)

# Piped output (scripts, CI logs) gets wide tables instead of rich's 80-column default.
console = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Run ``command``; an ``LlmmonError`` becomes ``Error: <message>`` and exit code 2 or 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except LlmmonError as exc:
            err_console.print(f"[bold red]Error:[/] {exc}", markup=True, highlight=False)
            raise typer.Exit(2 if isinstance(exc, _BAD_INPUT) else 1) from exc

    return wrapper


def make_settings(db: str | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with ``--db`` (a URL or a SQLite file path) on top."""
    values: dict[str, Any] = {key: value for key, value in overrides.items() if value is not None}
    if db:
        values["database_url"] = db if "://" in db else f"sqlite:///{db}"
    try:
        return Settings(**values)
    except ValueError as exc:  # pydantic's ValidationError
        raise ConfigError(f"invalid settings: {exc}") from exc


def database_location(settings: Settings) -> str:
    """A human-readable place of the database: the SQLite file's absolute path, or the URL sans password."""
    from sqlalchemy.engine import make_url

    from llmmon.storage.engine import sqlite_path

    path = sqlite_path(settings.database_url)
    if path is not None:
        return str(path.resolve())
    return make_url(settings.database_url).render_as_string(hide_password=True)


@contextmanager
def open_engine(settings: Settings, *, create: bool = False) -> Iterator[Engine]:
    """An engine on the configured database with the schema upgraded; disposed afterwards.

    Without ``create`` a missing SQLite file is an error rather than silently creating an empty one.
    """
    from llmmon.storage.engine import make_engine, sqlite_path
    from llmmon.storage.migrate import upgrade_database

    path = sqlite_path(settings.database_url)
    if path is not None and not create and not path.exists():
        raise StorageError(
            f"no database at {path.resolve()} (run `llmmon demo` or `llmmon db upgrade` first)"
        )
    engine = make_engine(settings.database_url)
    try:
        upgrade_database(engine)
        yield engine
    finally:
        engine.dispose()


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '90m', '2w', '45s' -> timedelta; ``ConfigError`` otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"invalid duration {text!r}: use a number and a unit, e.g. 30d, 12h, 90m, 2w")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_since(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """A duration back from now ('24h') or an ISO date/time ('2026-11-01'); naive times are UTC."""
    if text is None:
        return None
    if _DURATION.match(text):
        return (now or datetime.now(UTC)) - parse_duration(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"invalid time {text!r}: use a duration like 24h or a date like 2026-11-01"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def print_json(value: BaseModel | list[Any] | dict[str, Any]) -> None:
    """Print ``value`` as JSON on stdout (no rich markup, no wrapping)."""

    def plain(item: Any) -> Any:
        if isinstance(item, BaseModel):
            return item.model_dump(mode="json")
        if isinstance(item, list):
            return [plain(v) for v in item]
        if isinstance(item, dict):
            return {k: plain(v) for k, v in item.items()}
        return item

    typer.echo(json.dumps(plain(value), ensure_ascii=False, indent=2, default=str))


def format_ms(value: float | None) -> str:
    """Milliseconds for tables: '12.3 ms', '4.56 s'."""
    if value is None:
        return "-"
    return f"{value / 1000:.2f}s" if value >= 1000 else f"{value:.1f}ms"


def format_cost(value: float | None) -> str:
    """Cost for tables; unknown stays visibly unknown."""
    return "-" if value is None else f"${value:.4f}"
