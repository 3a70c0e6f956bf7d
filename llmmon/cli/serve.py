"""`llmmon serve`: run the server (feedback, ingest, JSON API, dashboard, /metrics) with uvicorn.

API keys are required unless ``--no-auth`` is given; then the server binds to 127.0.0.1 only
and says so. With ``--workers N`` uvicorn starts N processes on ``llmmon.server.asgi:app``,
configured through the environment.
"""

from __future__ import annotations

import os

import typer

from llmmon.cli.common import DB_OPTION, console, database_location, handle_errors, make_settings, open_engine
from llmmon.config import Settings

__all__ = ["run_server", "serve_command"]

LOCALHOST = "127.0.0.1"


def run_server(settings: Settings, *, host: str, port: int, workers: int = 1) -> None:
    """Serve ``settings`` until interrupted (with --no-auth, always on 127.0.0.1)."""
    try:
        import uvicorn
    except ModuleNotFoundError:
        raise typer.BadParameter("the server needs the [server] extra: pip install 'llmmon[server]'") from None
    if settings.server_no_auth and host != LOCALHOST:
        console.print(f"[yellow]--no-auth:[/] binding to {LOCALHOST} only (not {host}).")
        host = LOCALHOST
    if settings.server_no_auth:
        console.print(
            f"[bold yellow]Authentication is OFF[/] (--no-auth): anyone on this machine can read and write. "
            f"Listening on http://{host}:{port} only."
        )
    else:
        console.print(f"llmmon server on http://{host}:{port} (API keys required: `llmmon keys create`).")
    console.print(f"Database: {database_location(settings)}")
    if workers > 1:
        # Each worker process builds its own app from the environment (llmmon.server.asgi).
        os.environ["LLMMON_DATABASE_URL"] = settings.database_url
        os.environ["LLMMON_SERVER_NO_AUTH"] = "true" if settings.server_no_auth else "false"
        uvicorn.run(
            "llmmon.server.asgi:app", host=host, port=port, workers=workers, log_level="warning", access_log=False
        )
        return
    from llmmon.server.app import create_app

    uvicorn.run(create_app(settings, freeze_gc=True), host=host, port=port, log_level="warning", access_log=False)


@handle_errors
def serve_command(
    host: str = typer.Option(LOCALHOST, "--host", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="No API keys: for local use only; binds to 127.0.0.1 whatever --host says."
    ),
    db: str | None = DB_OPTION,
) -> None:
    """Run the llmmon server: feedback, trace ingest, JSON API, dashboard and /metrics."""
    settings = make_settings(db, server_no_auth=True if no_auth else None)
    with open_engine(settings, create=True):
        pass  # create the database and schema before the workers start
    run_server(settings, host=host, port=port, workers=workers)
