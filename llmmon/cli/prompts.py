"""`llmmon prompts list|check|lock`: the prompt registry from the command line.

``check`` exits 1 when a prompt version's content changed without a version bump (its computed
hash differs from the ``hash:`` in the file, or from hashes traces already recorded for it),
and 2 when a prompt file is malformed.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from llmmon.cli.common import JSON_OPTION, console, err_console, handle_errors, make_settings, print_json
from llmmon.errors import LlmmonError
from llmmon.prompts import PromptIssue, check_prompts, find_prompt_files, load_prompt_file, lock_prompt_file

__all__ = ["app"]

app = typer.Typer(help="List, check and lock versioned prompts (prompts/**/*.yaml).", no_args_is_help=True)

DIR_OPTION = typer.Option(
    None, "--dir", help="Prompts directory (default: LLMMON_PROMPTS_DIR, else ./prompts)."
)


def _prompts_dir(directory: Path | None) -> Path:
    return directory if directory is not None else make_settings().prompts_dir


@app.command("list")
@handle_errors
def list_command(directory: Path | None = DIR_OPTION, as_json: bool = JSON_OPTION) -> None:
    """List every prompt with its versions and hashes."""
    files = [load_prompt_file(path) for path in find_prompt_files(_prompts_dir(directory))]
    if as_json:
        print_json(
            [
                {
                    "name": f.name,
                    "path": str(f.path),
                    "latest": f.latest.version,
                    "versions": [
                        {
                            "version": v.version,
                            "hash": v.hash,
                            "recorded_hash": v.recorded_hash,
                            "model": v.model,
                        }
                        for v in f.versions
                    ],
                }
                for f in files
            ]
        )
        return
    table = Table(title="Prompts", title_justify="left")
    for column in ("name", "version", "hash", "locked", "model", "variables", "file"):
        table.add_column(column)
    for loaded in files:
        for version in loaded.versions:
            if version.recorded_hash is None:
                state = "[yellow]no[/]"
            elif version.recorded_hash == version.hash:
                state = "yes"
            else:
                state = "[red]edited[/]"
            latest = " (latest)" if version is loaded.latest else ""
            table.add_row(
                escape(loaded.name),
                escape(version.version) + latest,
                version.hash,
                state,
                escape(version.model or "-"),
                escape(", ".join(sorted(version.variables))),
                escape(str(loaded.path)),
            )
    console.print(table)


def _recorded_hashes(db: str | None, *, use_db: bool) -> dict[tuple[str, str], set[str]]:
    if not use_db:
        return {}
    from llmmon.cli.common import open_engine
    from llmmon.storage.engine import sqlite_path
    from llmmon.storage.repo import prompt_hashes

    settings = make_settings(db)
    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        return {}  # nothing recorded yet
    with open_engine(settings) as engine:
        return prompt_hashes(engine)


@app.command("check")
@handle_errors
def check_command(
    directory: Path | None = DIR_OPTION,
    db: str | None = typer.Option(
        None, "--db", help="Database whose traces' recorded hashes are compared too."
    ),
    use_db: bool = typer.Option(
        True, "--use-db/--no-db", help="Also compare with hashes recorded in traces."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Detect prompts edited without a version bump (exit 1) and malformed files (exit 2)."""
    files, issues = check_prompts(
        _prompts_dir(directory), recorded_hashes=_recorded_hashes(db, use_db=use_db)
    )
    failing = [i for i in issues if i.kind != "unlocked"]
    if as_json:
        print_json(
            {
                "ok": not failing,
                "prompts": len(files),
                "issues": [
                    {
                        "kind": i.kind,
                        "name": i.name,
                        "version": i.version,
                        "path": str(i.path),
                        "line": i.line,
                        "message": i.message,
                    }
                    for i in issues
                ],
            }
        )
    else:
        for issue in issues:
            _print_issue(issue)
        versions = sum(len(f.versions) for f in files)
        if not failing:
            console.print(f"OK: {len(files)} prompts, {versions} versions checked.")
    if any(i.kind == "invalid" for i in issues):
        raise typer.Exit(2)
    if failing:
        raise typer.Exit(1)


def _print_issue(issue: PromptIssue) -> None:
    if issue.kind == "unlocked":
        err_console.print(f"[yellow]warning:[/] {escape(issue.message)}")
    elif issue.kind == "invalid":
        err_console.print(f"[red]invalid:[/] {escape(issue.message)}")
    else:
        err_console.print(
            f"[red]hash mismatch:[/] {escape(issue.message)} -- add a new version instead ({issue.path})"
        )


@app.command("lock")
@handle_errors
def lock_command(directory: Path | None = DIR_OPTION) -> None:
    """Write the content hash of every version that has none yet."""
    total = 0
    for path in find_prompt_files(_prompts_dir(directory)):
        try:
            locked = lock_prompt_file(path)
        except LlmmonError:
            raise
        for version in locked:
            console.print(f"locked {escape(str(path))} {escape(version)}")
        total += len(locked)
    if total == 0:
        console.print("Nothing to lock: every version has a hash.")
