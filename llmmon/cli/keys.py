"""`llmmon keys create|list|revoke`: API keys for the server (shown once, stored as SHA-256)."""

from __future__ import annotations

import typer
from rich.table import Table

from llmmon.cli.common import DB_OPTION, JSON_OPTION, console, handle_errors, make_settings, open_engine, print_json

__all__ = ["app"]

app = typer.Typer(help="API keys for `llmmon serve` (ingest, read, admin).", no_args_is_help=True)


@app.command("create")
@handle_errors
def create_command(
    scope: str = typer.Option(..., "--scope", help="ingest (POST traces/feedback) | read (API, dashboard) | admin"),
    name: str = typer.Option("", "--name", help="A label to recognise the key by."),
    db: str | None = DB_OPTION,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    from llmmon.server.keys import create_key

    with open_engine(make_settings(db), create=True) as engine:
        record, key = create_key(engine, scope=scope, name=name)
    console.print(f"Created {record.scope} key [bold]{record.id}[/] {record.name}".rstrip())
    console.print("Store it now; it cannot be shown again:")
    typer.echo(key)


@app.command("list")
@handle_errors
def list_command(db: str | None = DB_OPTION, as_json: bool = JSON_OPTION) -> None:
    """List keys (ids, scopes, dates; never the keys)."""
    from llmmon.server.keys import list_keys

    with open_engine(make_settings(db)) as engine:
        keys = list_keys(engine)
    if as_json:
        print_json(list(keys))
        return
    table = Table("id", "scope", "name", "created", "revoked")
    for key in keys:
        table.add_row(
            key.id,
            key.scope,
            key.name,
            key.created_at.strftime("%Y-%m-%d %H:%M"),
            key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "",
        )
    console.print(table)


@app.command("revoke")
@handle_errors
def revoke_command(
    key_id: str = typer.Argument(..., help="The key id shown by `llmmon keys list`."), db: str | None = DB_OPTION
) -> None:
    """Revoke a key (the server stops accepting it within LLMMON_SERVER_KEY_CACHE_S seconds)."""
    from llmmon.errors import ConfigError
    from llmmon.server.keys import revoke_key

    with open_engine(make_settings(db)) as engine:
        if not revoke_key(engine, key_id):
            raise ConfigError(f"no active key with id {key_id!r}")
    console.print(f"Revoked key {key_id}.")
