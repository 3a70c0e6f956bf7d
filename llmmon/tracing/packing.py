"""Finished spans as bytes while they wait in the recorder's queue, out of the GC's sight.

Why: a span waiting in the queue is a live object graph (the ``SpanRecord``, its argument
tuple, ...). CPython's cyclic garbage collector walks all of it at every collection it is
part of -- the young generation every few hundred spans, and the whole queue again at each
full collection -- and the traced call that happens to trigger a collection pays for it.
That was most of ``@trace``'s p99.9 (benchmarks/README.md). msgspec encodes the span (a
``msgspec.Struct``) as MessagePack in C, in about 0.15 us on the caller's path, into one
``bytes`` object, which the collector never visits; the drain thread decodes it.

Only values that are cheap to copy and cannot change after the call are packed: ``str``
(up to ``INLINE_MAX_CHARS``), ``int``, ``float``, ``bool`` and ``None``, as arguments,
result and attribute values. Anything else -- containers, user objects, long strings --
keeps the span on the reference path: serialised later by the drain thread, as before,
so no large or mutable value is ever copied on the caller's path.
"""

from __future__ import annotations

from typing import Any

import msgspec

from llmmon.tracing.args import CallArgs, map_arguments
from llmmon.tracing.span import SpanRecord

__all__ = ["FIELDS", "INLINE_MAX_CHARS", "SpanValues", "pack_span", "span_values", "unpack_span"]

# The longest string packed on the caller's path; a longer one stays a reference.
INLINE_MAX_CHARS = 8192
_SCALARS = frozenset({int, float, bool, type(None)})

# The order of a span's values in ``span_values`` / ``unpack_span``: SpanRecord's fields.
FIELDS: tuple[str, ...] = SpanRecord.__struct_fields__
_INPUT = FIELDS.index("input")

SpanValues = tuple[Any, ...] | list[Any]

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode
span_values = msgspec.structs.astuple
"""A span's values in ``FIELDS`` order (C-level)."""


def _all_inline(values: Any) -> bool:
    for value in values:
        kind = type(value)
        if kind is str:
            if len(value) > INLINE_MAX_CHARS:
                return False
        elif kind not in _SCALARS:
            return False
    return True


def pack_span(span: SpanRecord) -> bytes | None:
    """``span`` as bytes, or None when it holds a value that must not be copied here."""
    raw = span.input
    if raw is not None:
        if type(raw) is not CallArgs:  # an integration's dict of messages, parameters, ...
            return None
        if not _all_inline(raw.args):
            return None
        kwargs = raw.kwargs
        if kwargs and not _all_inline(kwargs.values()):
            return None
    output = span.output
    kind = type(output)
    if kind is str:
        if len(output) > INLINE_MAX_CHARS:
            return None
    elif kind not in _SCALARS:
        return None
    attributes = span.attributes
    if attributes and not _all_inline(attributes.values()):
        return None
    try:
        return _encode(span)
    except (TypeError, ValueError, OverflowError):  # e.g. a tag that is not a str, a 2**70
        return None


def unpack_span(packed: bytes) -> SpanValues:
    """The values of a packed span in ``FIELDS`` order, its arguments mapped to names."""
    values: list[Any] = _decode(packed)
    packed_input = values[_INPUT]
    if packed_input is not None:
        (names, varargs, skip_first), args, kwargs = packed_input
        values[_INPUT] = map_arguments(names, varargs, skip_first, args, kwargs)
    return values
