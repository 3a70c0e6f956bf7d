"""`llmmon traces list|show`: browse recorded traces and their span trees."""

from __future__ import annotations

import json

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from llmmon.cli.common import (
    DB_OPTION,
    JSON_OPTION,
    console,
    format_cost,
    format_ms,
    handle_errors,
    make_settings,
    open_engine,
    parse_since,
    print_json,
)
from llmmon.storage import repo

__all__ = ["app"]

app = typer.Typer(help="List traces and show one trace's span tree.", no_args_is_help=True)


@app.command("list")
@handle_errors
def list_command(
    since: str | None = typer.Option(None, help="Only traces started after this: 24h, 7d or 2026-11-01."),
    name: str | None = typer.Option(None, help="Only traces whose root span has this name."),
    status: str | None = typer.Option(None, help="ok or error."),
    model: str | None = typer.Option(None, help="Only traces with a call to this model."),
    prompt: str | None = typer.Option(None, help="Only traces that used this prompt name."),
    prompt_version: str | None = typer.Option(
        None, "--prompt-version", help="Only traces with this prompt version."
    ),
    user: str | None = typer.Option(None, help="Only traces of this user id."),
    session: str | None = typer.Option(None, help="Only traces of this session id."),
    limit: int = typer.Option(20, min=1, max=10_000, help="Traces per page."),
    offset: int = typer.Option(0, min=0, help="Skip this many traces (pagination)."),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List traces, newest first."""
    settings = make_settings(db)
    with open_engine(settings) as engine:
        page = repo.list_traces(
            engine,
            since=parse_since(since),
            name=name,
            status=status,
            model=model,
            prompt_name=prompt,
            prompt_version=prompt_version,
            user_id=user,
            session_id=session,
            limit=limit,
            offset=offset,
        )
    if as_json:
        print_json(page)
        return
    table = Table(
        title=f"Traces {offset + 1}-{offset + len(page.data)} of {page.count} (newest first)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for column in (
        "trace",
        "started (UTC)",
        "name",
        "status",
        "latency",
        "model",
        "prompt",
        "tokens",
        "cost",
        "user",
    ):
        table.add_column(
            column, no_wrap=True, justify="right" if column in ("latency", "tokens", "cost") else "left"
        )
    for trace in page.data:
        tokens = (trace.input_tokens or 0) + (trace.output_tokens or 0)
        table.add_row(
            trace.trace_id[:12],
            trace.start_time.strftime("%m-%d %H:%M:%S"),
            escape(trace.name),
            "[red]error[/]" if trace.status == "error" else trace.status,
            format_ms(trace.latency_ms),
            escape(trace.model or "-"),
            escape(trace.prompt_version or "-"),
            str(tokens) if tokens else "-",
            format_cost(trace.cost_usd),
            escape(trace.user_id or "-"),
        )
    console.print(table)


def _preview(raw: str | None, *, full: bool) -> str:
    if raw is None:
        return ""
    try:
        text = json.dumps(json.loads(raw), ensure_ascii=False)
    except ValueError:
        text = raw
    return text if full or len(text) <= 160 else text[:157] + "..."


def _label(node: repo.SpanNode) -> str:
    span = node.span
    parts = [f"[bold]{escape(span.name)}[/] [dim]({span.kind})[/]", format_ms(span.latency_ms)]
    if span.status == "error":
        parts.append(f"[red]error {escape(span.error_type or '')}: {escape(span.error_message or '')}[/]")
    if span.model:
        parts.append(f"model={escape(span.model)}")
    if span.input_tokens is not None or span.output_tokens is not None:
        estimated = "~" if span.tokens_estimated else ""
        parts.append(f"tokens={estimated}{span.input_tokens or 0}+{span.output_tokens or 0}")
    if span.cost_usd is not None:
        parts.append(format_cost(span.cost_usd))
    if span.ttft_ms is not None:
        parts.append(f"ttft={format_ms(span.ttft_ms)}")
    if span.prompt_version:
        parts.append(f"prompt={escape(span.prompt_name or '')} {escape(span.prompt_version)}")
    return "  ".join(parts)


def _add(tree: Tree, node: repo.SpanNode, *, full: bool) -> None:
    branch = tree.add(_label(node))
    for field, raw in (("in", node.span.input), ("out", node.span.output)):
        text = _preview(raw, full=full)
        if text:
            branch.add(f"[dim]{field}:[/] {escape(text)}")
    for child in node.children:
        _add(branch, child, full=full)


@app.command("show")
@handle_errors
def show_command(
    trace_id: str = typer.Argument(..., help="A trace id, or a unique prefix of at least 6 characters."),
    full: bool = typer.Option(False, "--full", help="Show inputs and outputs in full."),
    db: str | None = DB_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one trace as a tree of spans with latency, tokens, cost and errors."""
    settings = make_settings(db)
    with open_engine(settings) as engine:
        roots = repo.get_trace(engine, trace_id)
    if as_json:
        print_json(roots)
        return
    first = roots[0].span
    tree = Tree(
        f"trace [bold]{first.trace_id}[/]  user={escape(first.user_id or '-')}  "
        f"session={escape(first.session_id or '-')}  started {first.start_time:%Y-%m-%d %H:%M:%S} UTC"
    )
    for root in roots:
        _add(tree, root, full=full)
    console.print(tree)
