"""The in-memory span: what the decorator, the integrations and the recorder hand each other.

A ``SpanRecord`` is filled on the caller's path with *raw* values only (references to
arguments and results, clock readings, usage numbers). Everything expensive -- JSON
serialisation, truncation, PII redaction, token counting, cost -- happens later in the
writer thread (see ``recorder.py``). Consequence for users: an argument object that is
mutated after the traced call returns may be recorded in its mutated state. (A finished
span's own fields are packed into bytes when it ends; see ``packing.py``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = ["USAGE_FIELDS", "SpanRecord", "usage_counts"]

# Token fields a span can carry, in the order the database stores them.
USAGE_FIELDS = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "total_tokens")


def usage_counts(tokens: Mapping[str, int | None]) -> dict[str, int]:
    """The known token counts in ``tokens`` as ints (unknown keys and missing counts left out)."""
    return {key: int(value) for key, value in tokens.items() if value is not None and key in USAGE_FIELDS}


class SpanRecord(msgspec.Struct, array_like=True, eq=False):
    """One span while it is open and until the writer has stored it.

    Times: ``start_ns`` is wall-clock (``time.time_ns``) for storage; ``perf_start_ns``
    / ``perf_end_ns`` / ``first_chunk_ns`` come from ``time.perf_counter_ns`` for
    latencies. ``input`` and ``output`` hold raw Python values (``input`` is usually a
    dict of argument name -> value) and are serialised by the writer.

    A ``msgspec.Struct`` rather than a class with ``__slots__``: it is built in C with its
    defaults (a third of the cost on the caller's path), and ``packing.pack_span`` encodes
    it in C, field by field in this order, without building an intermediate tuple.
    ``eq=False`` keeps the identity semantics of the class it replaced: two spans with equal
    fields are still two spans, and a span stays hashable.
    """

    span_id: str
    trace_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    perf_start_ns: int
    perf_end_ns: int | None = None
    first_chunk_ns: int | None = None
    status: str = "ok"
    error_type: str | None = None
    error_message: str | None = None
    input: Any = None
    output: Any = None
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] | None = None
    attributes: dict[str, Any] | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    prompt_hash: str | None = None
    model: str | None = None
    provider: str | None = None
    usage: dict[str, int] | None = None
    tokens_estimated: bool = False
    is_eval: bool = False

    # -- helpers for user code (via llmmon.current_span()) and integrations --------

    def set_attribute(self, key: str, value: Any) -> None:
        """Attach one metadata value (stored in the span's ``attributes`` JSON)."""
        if self.attributes is None:
            self.attributes = {}
        self.attributes[key] = value

    def set_attributes(self, values: dict[str, Any]) -> None:
        """Attach several metadata values at once."""
        if self.attributes is None:
            self.attributes = {}
        self.attributes.update(values)

    def add_tags(self, *tags: str) -> None:
        """Add tags (deduplicated, order kept)."""
        if self.tags is None:
            self.tags = []
        for tag in tags:
            if tag not in self.tags:
                self.tags.append(tag)

    def set_usage(self, *, estimated: bool = False, **tokens: int | None) -> None:
        """Record token usage; keys are names from ``USAGE_FIELDS``."""
        usage = usage_counts(tokens)
        if self.usage is None:
            self.usage = usage
        else:
            self.usage.update(usage)
        self.tokens_estimated = estimated

    def set_prompt(self, name: str, version: str, content_hash: str) -> None:
        """Stamp the prompt that produced this span's LLM input."""
        self.prompt_name = name
        self.prompt_version = version
        self.prompt_hash = content_hash

    def record_error(self, exc: BaseException) -> None:
        """Mark the span failed with ``exc``'s type and message (the caller re-raises)."""
        self.status = "error"
        self.error_type = type(exc).__qualname__
        self.error_message = str(exc)

    def mark_first_chunk(self, perf_ns: int) -> None:
        """Remember when the first streamed chunk arrived (time to first token)."""
        if self.first_chunk_ns is None:
            self.first_chunk_ns = perf_ns

    @property
    def latency_ms(self) -> float | None:
        """Duration in milliseconds once the span has ended."""
        if self.perf_end_ns is None:
            return None
        return (self.perf_end_ns - self.perf_start_ns) / 1e6

    @property
    def ttft_ms(self) -> float | None:
        """Time to first chunk in milliseconds (streams only)."""
        if self.first_chunk_ns is None:
            return None
        return (self.first_chunk_ns - self.perf_start_ns) / 1e6

    def __repr__(self) -> str:
        return f"SpanRecord(name={self.name!r}, span_id={self.span_id!r}, trace_id={self.trace_id!r})"
