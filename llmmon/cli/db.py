"""`llmmon db upgrade`: create or migrate the schema (idempotent; keeps data)."""

from __future__ import annotations

import typer

from llmmon.cli.common import DB_OPTION, console, database_location, handle_errors, make_settings

__all__ = ["app"]

app = typer.Typer(help="Database schema management.", no_args_is_help=True)


@app.command("upgrade")
@handle_errors
def upgrade_command(db: str | None = DB_OPTION) -> None:
    """Bring the database schema to the newest version; safe to run again."""
    from llmmon.storage.engine import make_engine
    from llmmon.storage.migrate import current_revisions, upgrade_database

    settings = make_settings(db)
    engine = make_engine(settings.database_url)
    try:
        before = current_revisions(engine)
        after = upgrade_database(engine)
    finally:
        engine.dispose()
    where = database_location(settings)
    if before == after:
        console.print(f"Database {where} is up to date (revision {', '.join(sorted(after))}).")
    else:
        console.print(f"Upgraded {where} to revision {', '.join(sorted(after))}.")
