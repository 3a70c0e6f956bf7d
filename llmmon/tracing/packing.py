"""Finished spans packed into bytes while they wait in the recorder's queue, out of the GC's sight.

Why: a span waiting in the queue is a live object graph (the ``SpanRecord``, its argument
tuple, ...). CPython's cyclic garbage collector walks all of it at every collection it is
part of -- the young generation every few hundred spans, and the whole queue again at each
full collection -- and the traced call that happens to trigger a collection pays for it.
That was most of ``@trace``'s p99.9 (benchmarks/README.md). msgspec encodes the span (a
``msgspec.Struct``) as MessagePack in C, in about 0.15 us on the caller's path, into one
``bytes`` object, which the collector never visits; the drain thread decodes it.

Two forms, chosen per span:

* **packed** (``bytes``): every argument, the result and every attribute value is a plain
  ``str`` of at most ``INLINE_MAX_CHARS``, an ``int``, ``float``, ``bool`` or ``None`` --
  cheap to copy and unable to change after the call.
* **partly packed** (``PartlyPacked``): anything else -- containers, user objects, long
  strings. Only the span's own fields are encoded; the raw arguments, result and attributes
  stay references in one small tuple, serialised later by the drain thread as before, so no
  large or mutable value is ever copied on the caller's path. The collector then walks one
  short tuple per queued span instead of the span, its argument record, the argument tuple
  and their fields.

``pack_span`` returns None only when a field itself cannot be encoded (e.g. a tag that is
not a ``str``): the span is then queued as it is.
"""

from __future__ import annotations

from typing import Any

import msgspec

from llmmon.tracing.args import CallArgs, map_arguments
from llmmon.tracing.span import SpanRecord

__all__ = [
    "FIELDS",
    "INLINE_MAX_CHARS",
    "PARTLY_ARGS_AT",
    "PartlyPacked",
    "SpanValues",
    "pack_span",
    "span_values",
    "unpack_partly",
    "unpack_span",
]

# The longest string packed on the caller's path; a longer one stays a reference.
INLINE_MAX_CHARS = 8192
_SCALARS = frozenset({int, float, bool, type(None)})

# The order of a span's values in ``span_values`` / ``unpack_span``: SpanRecord's fields.
FIELDS: tuple[str, ...] = SpanRecord.__struct_fields__
_INPUT = FIELDS.index("input")
_OUTPUT = FIELDS.index("output")
_ATTRIBUTES = FIELDS.index("attributes")
# In a partly packed span's fields, an input that is not a CallArgs (an integration's dict).
_RAW_INPUT = True

SpanValues = tuple[Any, ...] | list[Any]
# (encoded fields, output, attributes, kwargs, *the call's positional arguments) -- or, for an
# input that is not a call's arguments, that input as the one value after kwargs. Arguments
# are spread into the tuple rather than kept as the call's own tuple: one object less per span.
PartlyPacked = tuple[Any, ...]
PARTLY_ARGS_AT = 4

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode
_replace = msgspec.structs.replace
span_values = msgspec.structs.astuple
"""A span's values in ``FIELDS`` order (C-level)."""

_ENCODE_ERRORS = (TypeError, ValueError, OverflowError)  # a non-str tag, an int beyond 64 bits


def _all_inline(values: Any) -> bool:
    for value in values:
        kind = type(value)
        if kind is str:
            if len(value) > INLINE_MAX_CHARS:
                return False
        elif kind not in _SCALARS:
            return False
    return True


def _is_inline(span: SpanRecord) -> bool:
    raw = span.input
    if raw is not None:
        if type(raw) is not CallArgs or not _all_inline(raw.args):
            return False
        kwargs = raw.kwargs
        if kwargs and not _all_inline(kwargs.values()):
            return False
    if not _all_inline((span.output,)):
        return False
    attributes = span.attributes
    return not attributes or _all_inline(attributes.values())


def pack_span(span: SpanRecord) -> bytes | PartlyPacked | None:
    """``span`` packed (bytes) or partly packed (a tuple); None when a field cannot be encoded."""
    # A span without input, output or attributes (capture off) skips the checks: the
    # cheapest path stays cheapest.
    if (span.input is None and span.output is None and not span.attributes) or _is_inline(span):
        try:
            return _encode(span)
        except _ENCODE_ERRORS:
            return None
    raw = span.input
    if type(raw) is CallArgs:
        marker: Any = raw.params
        args, kwargs = raw.args, raw.kwargs
    else:
        marker = None if raw is None else _RAW_INPUT
        args, kwargs = (() if raw is None else (raw,)), None
    try:
        fields = _encode(_replace(span, input=marker, output=None, attributes=None))
    except _ENCODE_ERRORS:
        return None
    return (fields, span.output, span.attributes, kwargs, *args)


def unpack_span(packed: bytes) -> SpanValues:
    """The values of a packed span in ``FIELDS`` order, its arguments mapped to names."""
    values: list[Any] = _decode(packed)
    packed_input = values[_INPUT]
    if packed_input is not None:
        (names, varargs, skip_first), args, kwargs = packed_input
        values[_INPUT] = map_arguments(names, varargs, skip_first, args, kwargs)
    return values


def unpack_partly(item: PartlyPacked) -> SpanValues:
    """The values of a partly packed span in ``FIELDS`` order, its arguments mapped to names."""
    fields, output, attributes, kwargs = item[:PARTLY_ARGS_AT]
    values: list[Any] = _decode(fields)
    marker = values[_INPUT]
    if marker is _RAW_INPUT:
        values[_INPUT] = item[PARTLY_ARGS_AT]
    elif marker is not None:
        names, varargs, skip_first = marker
        values[_INPUT] = map_arguments(names, varargs, skip_first, item[PARTLY_ARGS_AT:], kwargs)
    values[_OUTPUT] = output
    values[_ATTRIBUTES] = attributes
    return values
