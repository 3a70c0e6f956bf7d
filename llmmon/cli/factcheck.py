"""`llmmon factcheck` (a JSONL file of answers) and `llmmon check TRACE_ID` (a stored trace) against a KB.

    llmmon factcheck --kb support --input cases.jsonl --output results.jsonl
    llmmon factcheck --kb ./kb-docs/ --input cases.jsonl --output results.jsonl --judge \\
        --llm-base-url http://127.0.0.1:8080/v1 --llm-model gemma
    llmmon check 3f2a9c1d --kb support

Input lines: ``{"id": ..., "question": ... (optional), "answer": ..., "context": ... (optional)}``.
Output lines: ``{"id", "verdict", "hallucinated", "score", "claims": [...], "failure_kind", "warnings"}``.
Exit codes: 0 on success, 2 on bad input (the message names the line), 1 when the run fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from llmmon.checks.factcheck import EvidenceIndex, FactChecker, KbScope
from llmmon.checks.verdicts import FactCheckResult
from llmmon.cli.common import DB_OPTION, console, err_console, handle_errors, make_settings, open_engine
from llmmon.config import Settings
from llmmon.errors import ConfigError, KnowledgeBaseError, StorageError
from llmmon.monitor.inputs import trace_inputs

if TYPE_CHECKING:
    from llmmon.checks.verifier import ClaimVerifier

__all__ = ["check_command", "factcheck_command", "parse_case_line", "result_to_json", "trace_inputs"]

KB_OPTION = typer.Option(..., "--kb", help="A knowledge base name, or a directory/file of documents.")
JUDGE_OPTION = typer.Option(False, "--judge", help="Let the LLM judge settle what tier 1 cannot.")
BASE_URL_OPTION = typer.Option(None, "--llm-base-url", help="OpenAI-compatible judge endpoint.")
MODEL_OPTION = typer.Option(None, "--llm-model", help="Judge model name.")
INPUT_OPTION = typer.Option(..., "--input", help="JSONL: one {id, question?, answer, context?} per line.")
OUTPUT_OPTION = typer.Option(..., "--output", help="Where to write one JSON result per line.")
SCOPE_OPTION = typer.Option(
    "closed",
    "--kb-scope",
    help="closed: the KB is the whole truth, so an unbacked fact is a hallucination (support bots); "
    "open: only contradictions count (open-domain KBs such as Wikipedia snippets).",
)


def _check_scope(kb_scope: str) -> KbScope:
    if kb_scope not in ("closed", "open"):
        raise ConfigError(f"--kb-scope must be 'closed' or 'open', not {kb_scope!r}")
    return "closed" if kb_scope == "closed" else "open"


def parse_case_line(line: str, number: int) -> dict[str, Any]:
    """One input line as a case dict; ``ConfigError`` naming the line when it is malformed."""
    try:
        case = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"line {number}: not valid JSON ({exc.msg})") from None
    if not isinstance(case, dict):
        raise ConfigError(f"line {number}: expected a JSON object")
    if "id" not in case:
        raise ConfigError(f"line {number}: missing field 'id'")
    if not isinstance(case.get("answer"), str):
        raise ConfigError(f"line {number}: field 'answer' must be a string")
    for optional in ("question",):
        if case.get(optional) is not None and not isinstance(case[optional], str):
            raise ConfigError(f"line {number}: field {optional!r} must be a string")
    context = case.get("context")
    if context is not None and not (
        isinstance(context, str) or (isinstance(context, list) and all(isinstance(c, str) for c in context))
    ):
        raise ConfigError(f"line {number}: field 'context' must be a string or a list of strings")
    return case


def result_to_json(case_id: Any, result: FactCheckResult) -> dict[str, Any]:
    """The output line of one checked answer."""
    return {
        "id": case_id,
        "verdict": result.verdict,
        "hallucinated": result.hallucinated,
        "score": round(result.score, 4),
        "claims": [
            {
                "text": c.claim.text,
                "start": c.claim.start,
                "end": c.claim.end,
                "verdict": c.verdict,
                "tier": c.tier,
                "evidence": [
                    {"passage_id": e.passage_id, "doc": e.doc, "start": e.start, "end": e.end, "text": e.text}
                    for e in c.evidence
                ],
                "reason": c.reason,
            }
            for c in result.claims
        ],
        "failure_kind": result.failure_kind,
        "warnings": list(result.warnings),
    }


@contextmanager
def _open_index(kb: str, settings: Settings) -> Iterator[EvidenceIndex]:
    """A KB directory or file is indexed in memory; anything else is a stored KB's name."""
    from llmmon.knowledge.index import index_from_paths, load_index

    path = Path(kb)
    if path.exists():
        index = index_from_paths([path], name=path.name or "temporary")
        for warning in index.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}")
        yield index
        return
    with open_engine(settings) as engine:
        try:
            stored = load_index(engine, kb)
        except KnowledgeBaseError as exc:
            raise ConfigError(
                f"--kb {kb!r}: no such directory, file or stored knowledge base ({exc})"
            ) from exc
        for warning in stored.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}")
        yield stored


def _make_verifier(
    settings: Settings, stack: ExitStack, *, base_url: str | None, model: str | None
) -> ClaimVerifier:
    try:
        from llmmon.checks.judge import JudgeClient
        from llmmon.checks.llm_verifier import LlmClaimVerifier
    except ImportError as exc:
        raise ConfigError(
            f"--judge needs the LLM judge (llmmon.checks.judge), which is unavailable: {exc}"
        ) from exc
    model = model or settings.judge_model
    if not model:
        raise ConfigError("--judge needs a model: pass --llm-model or set LLMMON_JUDGE_MODEL")
    judge = JudgeClient(base_url or settings.judge_base_url, model, settings.judge_api_key)
    stack.callback(judge.close)
    return LlmClaimVerifier(judge)


@handle_errors
def factcheck_command(
    kb: str = KB_OPTION,
    input: Path = INPUT_OPTION,
    output: Path = OUTPUT_OPTION,
    judge: bool = JUDGE_OPTION,
    llm_base_url: str | None = BASE_URL_OPTION,
    llm_model: str | None = MODEL_OPTION,
    kb_scope: str = SCOPE_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Fact-check a file of answers against a knowledge base (tier 1; tier 2 too with --judge)."""
    scope = _check_scope(kb_scope)
    settings = make_settings(db)
    try:
        lines = input.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read --input {input}: {exc}") from exc
    cases = [parse_case_line(line, number) for number, line in enumerate(lines, 1) if line.strip()]
    counts = {"supported": 0, "hallucinated": 0, "unverifiable": 0}
    with ExitStack() as stack:
        index = stack.enter_context(_open_index(kb, settings))
        verifier = _make_verifier(settings, stack, base_url=llm_base_url, model=llm_model) if judge else None
        checker = FactChecker(index, verifier=verifier, kb_scope=scope)
        try:
            out = stack.enter_context(output.open("w", encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot write --output {output}: {exc}") from exc
        for case in cases:
            result = checker.check(case["answer"], question=case.get("question"), context=case.get("context"))
            counts[result.verdict] += 1
            out.write(json.dumps(result_to_json(case["id"], result), ensure_ascii=False) + "\n")
    if getattr(index, "is_empty", False) is True:
        err_console.print("[yellow]warning:[/] the knowledge base is empty: every claim is unverifiable")
    console.print(
        f"{len(cases)} answers: {counts['supported']} supported, {counts['hallucinated']} hallucinated, "
        f"{counts['unverifiable']} unverifiable -> {escape(str(output))}"
    )


# --------------------------------------------------------------------------- llmmon check TRACE_ID


@handle_errors
def check_command(
    trace_id: str = typer.Argument(..., help="Trace id (or a unique prefix of at least 6 characters)."),
    kb: str = KB_OPTION,
    judge: bool = JUDGE_OPTION,
    llm_base_url: str | None = BASE_URL_OPTION,
    llm_model: str | None = MODEL_OPTION,
    kb_scope: str = SCOPE_OPTION,
    db: str | None = DB_OPTION,
) -> None:
    """Fact-check a stored trace's answer, print its claims with evidence, and store the verdicts."""
    from llmmon.checks.store import save_check

    scope = _check_scope(kb_scope)
    settings = make_settings(db)
    with ExitStack() as stack:
        engine = stack.enter_context(open_engine(settings))
        try:
            resolved, question, answer, context = trace_inputs(engine, trace_id)
        except StorageError as exc:
            raise ConfigError(str(exc)) from exc
        index = stack.enter_context(_open_index(kb, settings))
        verifier = _make_verifier(settings, stack, base_url=llm_base_url, model=llm_model) if judge else None
        checker = FactChecker(index, verifier=verifier, kb_scope=scope)
        result = checker.check(answer, question=question, context=context)
        save_check(
            engine,
            result,
            trace_id=resolved,
            kb_name=getattr(index, "name", None) or kb,
            kb_version=getattr(index, "version_hash", None),
        )
    _print_result(resolved, result)


def _print_result(trace_id: str, result: FactCheckResult) -> None:
    colour = {"supported": "green", "hallucinated": "red", "unverifiable": "yellow"}[result.verdict]
    failure = f"  ({result.failure_kind})" if result.failure_kind else ""
    console.print(f"trace {trace_id}: [{colour}]{result.verdict}[/] score {result.score:.2f}{failure}")
    for warning in result.warnings:
        console.print(f"  [yellow]warning:[/] {escape(warning)}")
    for verdict in result.claims:
        console.print(f"  [{verdict.verdict}] {escape(verdict.claim.text)}  ({verdict.tier})")
        if verdict.reason:
            console.print(f"      {escape(verdict.reason)}")
        for evidence in verdict.evidence[:2]:
            console.print(
                f"      {escape(evidence.doc)}[{evidence.start}:{evidence.end}] {escape(evidence.text[:160])}"
            )
