"""`llmmon purge`: retention (--older-than 30d) and a user's deletion request (--user ID)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from llmmon.cli.common import (
    DB_OPTION,
    JSON_OPTION,
    console,
    handle_errors,
    make_settings,
    open_engine,
    parse_duration,
    print_json,
)
from llmmon.errors import ConfigError
from llmmon.storage import repo

__all__ = ["purge_command"]


@handle_errors
def purge_command(
    older_than: str | None = typer.Option(
        None, "--older-than", help="Delete traces older than this, e.g. 30d."
    ),
    user: str | None = typer.Option(None, "--user", help="Delete every trace and record of this user id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Delete whole traces and everything attached to them (checks, scores, feedback)."""
    if (older_than is None) == (user is None):
        raise ConfigError("give exactly one of --older-than or --user")
    cutoff = datetime.now(UTC) - parse_duration(older_than) if older_than is not None else None
    what = f"traces older than {older_than}" if cutoff is not None else f"all data of user {user!r}"
    if not yes:
        typer.confirm(f"Delete {what}?", abort=True)
    settings = make_settings(db)
    with open_engine(settings) as engine:
        result = repo.purge(engine, older_than=cutoff, user_id=user)
    if as_json:
        print_json(result)
        return
    rows = ", ".join(f"{count} {table}" for table, count in result.rows.items()) or "no rows"
    console.print(f"Purged {result.traces} traces ({rows}).")
