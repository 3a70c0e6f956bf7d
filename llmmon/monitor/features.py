"""Per-trace features that drift and out-of-distribution checks compare between windows.

For each trace unit of a window (see ``llmmon.monitor.units``): the question and answer text
(from the root span's stored input and output), their lengths in characters, LLM tokens,
latency, the mean judge score when the worker's ``judge_score`` table is installed, the
dominant script of the question (``hangul``, ``latin``, ``han``, ``kana``, ``cyrillic``,
``other``, ``none``), whether the answer is a refusal (``llmmon.evals.refusal``), and the
knowledge-base documents its checked claims cited as evidence (the topic of the question).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import SQLModel

from llmmon.evals.refusal import detect_refusal
from llmmon.monitor.units import Scope, trace_units
from llmmon.monitor.windows import Window
from llmmon.storage.models import ClaimCheck, Span
from llmmon.storage.repo import _connect

__all__ = ["CATEGORICAL_FEATURES", "NUMERIC_FEATURES", "TraceFeatures", "load_features", "script_of", "text_of"]

NUMERIC_FEATURES: tuple[str, ...] = ("input_length", "output_length", "tokens", "latency_ms", "judge_score")
CATEGORICAL_FEATURES: tuple[str, ...] = ("language", "topic", "refusal")
_SPAN: Any = Span.__table__  # type: ignore[attr-defined]


@dataclass
class TraceFeatures:
    """What drift and OOD checks know about one trace."""

    trace_id: str
    start_time: datetime
    question: str
    answer: str
    latency_ms: float
    tokens: float | None
    judge_score: float | None = None
    topics: list[str] = field(default_factory=list)

    @property
    def input_length(self) -> float:
        return float(len(self.question))

    @property
    def output_length(self) -> float:
        return float(len(self.answer))

    @property
    def language(self) -> str:
        return script_of(self.question)

    @property
    def refusal(self) -> str:
        return "refusal" if self.answer and detect_refusal(self.answer) else "answer"

    def numeric(self, name: str) -> float | None:
        value = getattr(self, name)
        return None if value is None else float(value)


def script_of(text: str) -> str:
    """The script most letters of ``text`` are written in (Hangul vs Latin, and a few others)."""
    counts: dict[str, int] = {}
    for char in text:
        if not char.isalpha():
            continue
        code = ord(char)
        if 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
            script = "hangul"
        elif code < 0x250:
            script = "latin"
        elif 0x4E00 <= code <= 0x9FFF:
            script = "han"
        elif 0x3040 <= code <= 0x30FF:
            script = "kana"
        elif 0x400 <= code <= 0x4FF:
            script = "cyrillic"
        else:
            script = unicodedata.name(char, "other").split(" ")[0].lower() or "other"
            script = script if script in ("arabic", "hebrew", "greek", "thai", "devanagari") else "other"
        counts[script] = counts.get(script, 0) + 1
    if not counts:
        return "none"
    return max(sorted(counts), key=lambda name: counts[name])


def text_of(payload: str | None) -> str:
    """The human text in a stored input/output JSON: the last user message, else the longest string."""
    if not payload:
        return ""
    try:
        value = json.loads(payload)
    except ValueError:
        return payload  # truncated payload: the raw text is the best we have
    user_messages: list[str] = []
    strings: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, Mapping):
            if item.get("role") == "user" and isinstance(item.get("content"), str):
                user_messages.append(item["content"])
            for child in item.values():
                walk(child)
        elif isinstance(item, list):
            for child in item:
                walk(child)

    walk(value)
    if user_messages:
        return user_messages[-1]
    return max(strings, key=len, default="")


def _documents(evidence: str) -> list[str]:
    try:
        items = json.loads(evidence)
    except ValueError:
        return []
    return [str(item["doc"]) for item in items if isinstance(item, Mapping) and item.get("doc")]


def load_features(
    engine: Engine,
    windows: Window | Sequence[Window],
    *,
    filters: Mapping[str, str] | None = None,
) -> list[TraceFeatures]:
    """Features of every trace that started in any of ``windows`` (ordered by start time)."""
    result: list[TraceFeatures] = []
    for window in [windows] if isinstance(windows, Window) else list(windows):
        scope = Scope(start=window.start, end=window.end, filters=dict(filters or {}))
        result.extend(_load_window(engine, scope))
    result.sort(key=lambda item: (item.start_time, item.trace_id))
    return result


def _load_window(engine: Engine, scope: Scope) -> list[TraceFeatures]:
    units = trace_units(engine, scope)
    root = _SPAN.alias("froot")
    query = (
        select(
            units.c.trace_id, units.c.start_time, units.c.latency_ms, units.c.total_tokens, root.c.input, root.c.output
        )
        .select_from(units.join(root, root.c.trace_id == units.c.trace_id))
        .where(root.c.parent_span_id.is_(None), root.c.is_eval.is_(False))
    )
    claim = ClaimCheck.__table__  # type: ignore[attr-defined]
    evidence_query = select(claim.c.trace_id, claim.c.evidence).where(
        claim.c.trace_id.in_(select(units.c.trace_id))
    )
    judge = SQLModel.metadata.tables.get("judge_score")
    features: dict[str, TraceFeatures] = {}
    with _connect(engine) as connection:
        for row in connection.execute(query).mappings():
            features[row["trace_id"]] = TraceFeatures(
                trace_id=row["trace_id"],
                start_time=row["start_time"],
                question=text_of(row["input"]),
                answer=text_of(row["output"]),
                latency_ms=float(row["latency_ms"]),
                tokens=None if row["total_tokens"] is None else float(row["total_tokens"]),
            )
        for trace_id, evidence in connection.execute(evidence_query):
            item = features.get(trace_id)
            if item is not None:
                item.topics.extend(doc for doc in _documents(evidence) if doc not in item.topics)
        if judge is not None and "value" in judge.c and "trace_id" in judge.c:
            judged = (
                select(judge.c.trace_id, func.avg(judge.c.value))
                .where(judge.c.value.is_not(None), judge.c.trace_id.in_(select(units.c.trace_id)))
                .group_by(judge.c.trace_id)
            )
            for trace_id, value in connection.execute(judged):
                if trace_id in features and value is not None:
                    features[trace_id].judge_score = float(value)
    return list(features.values())
