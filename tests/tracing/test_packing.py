"""Spans packed as bytes on the caller's path (``llmmon.tracing.packing``).

A packed span must store exactly the row its reference-path twin stores; only spans whose
values are immutable scalars may be packed (anything else stays a reference, so nothing
large or mutable is copied on the caller's path); and packed spans waiting in the queue
are invisible to the cyclic garbage collector, which is the point of packing them.
"""

from __future__ import annotations

import enum
import gc
import json
from pathlib import Path
from typing import Any

import pytest

import llmmon
from llmmon.tracing.args import CallArgs, param_names
from llmmon.tracing.packing import INLINE_MAX_CHARS, pack_span
from llmmon.tracing.redact import Redactor
from llmmon.tracing.serialise import SpanSerialiser
from llmmon.tracing.span import SpanRecord
from tests.tracing.conftest import configure_database, span_rows


def _answer(question: str, top_k: int = 3, *extra: Any, **options: Any) -> str:
    return question


class _Bot:
    def reply(self, question: str) -> str:
        return question


class _Colour(enum.StrEnum):
    RED = "red"


def _span(args: tuple[Any, ...] = ("How do refunds work?", 5), **fields: Any) -> SpanRecord:
    span = SpanRecord("a1b2c3d4e5f60718", "0123456789abcdef0123456789abcdef", None, "answer", "function", 10**18, 500)
    span.perf_end_ns = 1_250_500
    span.input = CallArgs(param_names(_answer), args, fields.pop("kwargs", None))
    span.output = "Refunds take 5-7 business days."
    for key, value in fields.items():
        setattr(span, key, value)
    return span


_EVERY_FIELD = _span(
    parent_span_id="ffffeeeeddddcccc", status="error", error_type="ValueError",
    error_message="bad card 4111 1111 1111 1111", user_id="u-7", session_id="s-1",
    tags=["beta", "ko"], attributes={"retrieved": 3, "lang": "한국어", "score": 0.5},
    prompt_name="support", prompt_version="v3", prompt_hash="abc", model="gpt-4o-mini",
    provider="openai", usage={"input_tokens": 12, "output_tokens": 7}, first_chunk_ns=900,
    is_eval=True, tokens_estimated=True,
)  # fmt: skip


def _serialiser() -> SpanSerialiser:
    return SpanSerialiser(max_payload_bytes=4096, redactor=Redactor(), prices=None)


@pytest.mark.parametrize(
    "span",
    [
        pytest.param(_span(), id="scalars"),
        pytest.param(_span(("q", 1, 2.5, True, None), kwargs={"lang": "ko", "n": 3}), id="extra-args-and-kwargs"),
        pytest.param(_EVERY_FIELD, id="every-field"),
        pytest.param(_span(("mail me at kim@example.com or 010-1234-5678",)), id="pii-is-redacted-alike"),
    ],
)
def test_a_packed_span_stores_the_same_row_as_its_reference(span: SpanRecord) -> None:
    packed = pack_span(span)
    assert isinstance(packed, bytes)
    serialiser = _serialiser()
    assert serialiser.to_row(packed) == serialiser.to_row(span)


def test_a_method_span_leaves_self_out_packed_or_not() -> None:
    span = _span()
    span.input = CallArgs(param_names(_Bot.reply), (_Bot(), "hello"), None)
    partly = pack_span(span)
    assert isinstance(partly, tuple)  # ``self`` is an object: kept as a reference
    assert json.loads(_serialiser().to_row(partly)["input"]) == {"question": "hello"}
    span.input = CallArgs(param_names(_Bot.reply), ("not-self", "hello"), None)
    packed = pack_span(span)
    assert isinstance(packed, bytes)
    assert json.loads(_serialiser().to_row(packed)["input"]) == {"question": "hello"}


_NOT_INLINE = [
    (lambda s: setattr(s, "output", "x" * (INLINE_MAX_CHARS + 1)), "a long output is never copied here"),
    (lambda s: setattr(s.input, "args", ("x" * (INLINE_MAX_CHARS + 1),)), "nor a long argument"),
    (lambda s: setattr(s.input, "args", ({"role": "user"},)), "a dict argument may be mutated later"),
    (lambda s: setattr(s.input, "args", ([1, 2],)), "so may a list"),
    (lambda s: setattr(s.input, "args", (_Bot(),)), "an application object"),
    (lambda s: setattr(s.input, "args", (_Colour.RED,)), "a str subclass is not a plain str"),
    (lambda s: setattr(s.input, "kwargs", {"history": ["hi"]}), "keyword arguments are checked too"),
    (lambda s: setattr(s, "output", {"answer": "x"}), "a dict result"),
    (lambda s: setattr(s, "attributes", {"docs": ["d1", "d2"]}), "an attribute that is a list"),
    (lambda s: setattr(s, "input", {"messages": [{"role": "user", "content": "hi"}]}), "an integration's input"),
    (lambda s: setattr(s, "input", None), "no input, a list output"),
]


@pytest.mark.parametrize(("change", "why"), _NOT_INLINE)
def test_spans_holding_more_than_short_scalars_keep_those_values_as_references(change: Any, why: str) -> None:
    span = _span(tags=["t"], user_id="u-1")
    change(span)
    if span.input is None:
        span.output = ["a", "b"]
    item = pack_span(span)
    assert isinstance(item, tuple), why
    fields, output, attributes, kwargs, *args = item
    assert isinstance(fields, bytes)
    # The very objects, not copies: nothing large or mutable is copied on the caller's path.
    assert output is span.output and attributes is span.attributes
    raw = span.input
    expected_args = list(raw.args) if isinstance(raw, CallArgs) else [] if raw is None else [raw]
    assert len(args) == len(expected_args) and all(a is b for a, b in zip(args, expected_args, strict=True))
    assert kwargs is (raw.kwargs if isinstance(raw, CallArgs) else None)
    serialiser = _serialiser()
    assert serialiser.to_row(item) == serialiser.to_row(span)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda s: setattr(s, "tags", [object()]), "a tag the encoder cannot take"),
        (lambda s: setattr(s, "usage", {"input_tokens": 2**70}), "an integer beyond 64 bits"),
    ],
)
def test_a_span_whose_own_fields_cannot_be_encoded_is_queued_as_it_is(change: Any, why: str) -> None:
    span = _span()
    change(span)
    assert pack_span(span) is None, why
    span.output = {"not": "inline"}
    assert pack_span(span) is None, why


def _tracked_objects() -> int:
    gc.collect()
    return len(gc.get_objects())


def test_queued_spans_cost_the_gc_little_and_all_get_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'packed.db'}"
    # A batch size and interval the test never reaches: spans stay queued until flush().
    configure_database(url, tmp_path / "spool", batch_size=100_000, flush_interval_s=60)

    @llmmon.trace(name="scalar")
    def scalar(question: str, n: int) -> str:
        return question.upper()

    @llmmon.trace(name="with_object")
    def with_object(question: str, bot: _Bot) -> str:
        return bot.reply(question)

    bot = _Bot()
    scalar("warm", 0)
    with_object("warm", bot)
    llmmon.flush(10)
    calls = 3000
    before = _tracked_objects()
    for i in range(calls):
        scalar(f"question {i}", i)
    after_scalar = _tracked_objects()
    for i in range(calls):
        with_object(f"question {i}", bot)
    after_object = _tracked_objects()
    assert llmmon.stats()["queue_len"] == 2 * calls
    # Packed: nothing per span (the deque's blocks are not tracked either).
    assert after_scalar - before < 100
    # Partly packed: one small tuple -- not the span, its argument record and the argument
    # tuple (three objects and some 30 references per span).
    assert calls - 100 <= after_object - after_scalar <= calls + 100

    result = llmmon.flush(30)
    assert result.pending == 0 and result.dropped == 0
    rows = {row["output"]: row for row in span_rows(url, "WHERE name = 'scalar'")}
    assert len(rows) == calls + 1
    assert json.loads(rows['"QUESTION 42"']["input"]) == {"question": "question 42", "n": 42}
    objects = span_rows(url, "WHERE name = 'with_object'")
    assert len(objects) == calls + 1
    stored_input = json.loads(objects[-1]["input"])
    assert stored_input["question"].startswith("question") and "_Bot object" in stored_input["bot"]
    llmmon.shutdown()
