"""`llmmon kb add|list|show|search`: build, inspect and query knowledge bases stored in the database.

llmmon kb add docs/ faq.jsonl --kb support      # re-run any time: unchanged files are skipped
llmmon kb list
llmmon kb show support
llmmon kb search "When do you open on Saturday?" --kb support -k 3
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.table import Table

from llmmon.cli.common import (
    DB_OPTION,
    JSON_OPTION,
    console,
    err_console,
    handle_errors,
    make_settings,
    open_engine,
    print_json,
)
from llmmon.errors import ConfigError, KnowledgeBaseError
from llmmon.knowledge.ingest import DEFAULT_MAX_CHARS
from llmmon.knowledge.store import IngestReport, describe_knowledge_base, ingest_paths, list_knowledge_bases

if TYPE_CHECKING:
    from llmmon.knowledge.index import KnowledgeIndex

__all__ = ["app"]

app = typer.Typer(
    help="Build and query knowledge bases (the facts answers are checked against).", no_args_is_help=True
)

KB_OPTION = typer.Option(..., "--kb", help="Knowledge base name.")
PATHS_ARGUMENT = typer.Argument(..., help="Files and directories: .md, .txt, .jsonl, .csv/.tsv.")


@contextmanager
def _argument_errors() -> Iterator[None]:
    # A missing path or an unknown KB name is bad input (exit 2), not a failed run.
    try:
        yield
    except KnowledgeBaseError as exc:
        raise ConfigError(str(exc)) from exc


def _report_json(report: IngestReport) -> dict[str, Any]:
    return {
        "kb": report.kb_name,
        "version_hash": report.version_hash,
        "changed": report.changed,
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "removed": report.removed,
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in report.skipped],
        "warnings": report.warnings,
        "passages_written": report.passages_written,
    }


@app.command("add")
@handle_errors
def add_command(
    paths: list[Path] = PATHS_ARGUMENT,
    kb: str = KB_OPTION,
    text_column: str | None = typer.Option(
        None, "--text-column", help="CSV column holding the passage text (default: detected)."
    ),
    max_chars: int = typer.Option(
        DEFAULT_MAX_CHARS, "--max-chars", min=50, help="Longest passage; longer paragraphs are split."
    ),
    prune: bool = typer.Option(False, "--prune", help="Remove documents of the KB that are not among PATHS."),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Ingest documents into a knowledge base (created if missing). Unchanged files are a no-op."""
    settings = make_settings(db)
    with _argument_errors(), open_engine(settings, create=True) as engine:
        report = ingest_paths(engine, kb, paths, text_column=text_column, max_chars=max_chars, prune=prune)
    for skipped in report.skipped:
        err_console.print(f"[yellow]Warning:[/] {escape(str(skipped))}", soft_wrap=True)
    for warning in report.warnings:
        err_console.print(f"[yellow]Warning:[/] {escape(warning)}", soft_wrap=True)
    if as_json:
        print_json(_report_json(report))
        return
    table = Table(title=f"Knowledge base {escape(kb)}", title_justify="left")
    table.add_column("document")
    table.add_column("result")
    rows = [(s, "[green]added[/]") for s in report.added] + [(s, "[cyan]updated[/]") for s in report.updated]
    rows += [(s, "unchanged") for s in report.unchanged] + [(s, "[red]removed[/]") for s in report.removed]
    rows += [(str(s.path), f"[yellow]skipped[/]: {escape(s.reason)}") for s in report.skipped]
    for source, result in rows:
        table.add_row(escape(source), result)
    console.print(table)
    state = "changed" if report.changed else "unchanged"
    console.print(
        f"{report.passages_written} passages written; version {report.version_hash[:16]} ({state})",
        highlight=False,
    )


@app.command("list")
@handle_errors
def list_command(db: str | None = DB_OPTION, as_json: bool = JSON_OPTION) -> None:
    """List knowledge bases with their document and passage counts."""
    with open_engine(make_settings(db)) as engine:
        summaries = list_knowledge_bases(engine)
    if as_json:
        print_json([{**asdict(s), "updated_at": s.updated_at.isoformat()} for s in summaries])
        return
    if not summaries:
        console.print("No knowledge bases yet: llmmon kb add PATH... --kb NAME")
        return
    table = Table(title="Knowledge bases", title_justify="left")
    for column in ("name", "documents", "passages", "version", "updated (UTC)"):
        table.add_column(column, justify="right" if column in ("documents", "passages") else "left")
    for s in summaries:
        table.add_row(
            escape(s.name),
            str(s.documents),
            str(s.passages),
            s.version_hash[:16],
            s.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table)


@app.command("show")
@handle_errors
def show_command(name: str = typer.Argument(..., help="Knowledge base name."), db: str | None = DB_OPTION,
                 as_json: bool = JSON_OPTION) -> None:  # fmt: skip
    """Show a knowledge base: version hash, documents and their passage counts."""
    with _argument_errors(), open_engine(make_settings(db)) as engine:
        details = describe_knowledge_base(engine, name)
    if as_json:
        print_json(
            {
                "name": details.name,
                "version_hash": details.version_hash,
                "created_at": details.created_at.isoformat(),
                "updated_at": details.updated_at.isoformat(),
                "passages": details.passages,
                "documents": [asdict(d) for d in details.documents],
            }
        )
        return
    console.print(f"[bold]{escape(details.name)}[/]  version {details.version_hash}")
    console.print(f"{len(details.documents)} documents, {details.passages} passages", highlight=False)
    table = Table(title_justify="left")
    for column in ("document", "format", "title", "passages", "chars"):
        table.add_column(column, justify="right" if column in ("passages", "chars") else "left")
    for d in details.documents:
        table.add_row(escape(d.source), d.format, escape(d.title), str(d.passages), str(d.chars))
    console.print(table)


def _open_index(kb: str, db: str | None) -> KnowledgeIndex:
    # Imported here: bm25s and numpy are not needed by the other kb commands.
    from llmmon.knowledge.index import index_from_paths, load_index

    path = Path(kb)
    if path.exists():  # a directory or file of documents: a temporary, in-memory KB
        return index_from_paths([path], name=path.name or "temporary")
    with open_engine(make_settings(db)) as engine:
        return load_index(engine, kb)


@app.command("search")
@handle_errors
def search_command(
    query: str = typer.Argument(..., help="What to look for (any language; Korean works)."),
    kb: str = typer.Option(..., "--kb", help="Knowledge base name, or a directory/file of documents."),
    k: int = typer.Option(5, "-k", "--top-k", min=1, max=100, help="How many passages to return."),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Retrieve the top-k evidence passages for a query (BM25)."""
    with _argument_errors():
        index = _open_index(kb, db)
    for warning in index.warnings:
        err_console.print(f"[yellow]Warning:[/] {escape(warning)}", soft_wrap=True)
    hits = index.search(query, k=k)
    titles = {h.passage_id: (p.title if (p := index.get(h.passage_id)) else "") for h in hits}
    if as_json:
        print_json([{**asdict(h), "title": titles[h.passage_id]} for h in hits])
        return
    if not hits:
        console.print("No passage shares a term with the query.")
        return
    table = Table(title=f"Top {len(hits)} of {len(index)} passages", title_justify="left", show_lines=True)
    for column in ("score", "document", "title", "text"):
        table.add_column(column, justify="right" if column == "score" else "left", overflow="fold")
    for h in hits:
        location = f"{h.doc}:{h.start}-{h.end}"
        table.add_row(f"{h.score:.2f}", escape(location), escape(titles[h.passage_id]), escape(h.text))
    console.print(table)
